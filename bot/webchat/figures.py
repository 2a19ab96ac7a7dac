"""/stats/<org>: the complaint statistics of each 6- and 12-month round, in Thai or English, as a
page and as CSV, with the audit chain's head for anyone to note down. Public: no sign-in, no
personal data, small counts hidden (handlers/cases/open_figures.py)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time

import aiohttp_jinja2
from aiohttp import web

from bot.webchat.pages import SERVICES, asked_lang, org_of
from handlers.cases.open_figures import HIDDEN, figure_rows, open_figures, published_chain, round_title
from handlers.core.work import Work
from kernel.deadlines import format_date
from kernel.i18n import t

routes = web.RouteTableDef()


@routes.get("/{org}", name="figures")
async def figures_page(request: web.Request) -> web.StreamResponse:
    org, services, lang = org_of(request), request.app[SERVICES], asked_lang(request) or "th"
    async with services.db.session() as session:
        work = Work(session, services, services.clock())
        rounds = await open_figures(work, org)
        chain = await published_chain(work)
    context = {
        "lang": lang,
        "org": org,
        "rounds": [(round_title(r, lang), figure_rows(r, org, lang)) for r in rounds],
        "chain": chain,
        "hidden": HIDDEN,
        "day": lambda d: format_date(datetime.combine(d, time(12)), lang=lang, tz=org.tz()),
    }
    return aiohttp_jinja2.render_template("figures.html", request, context)


@routes.get("/{org}/figures.csv", name="figures_csv")
async def figures_csv(request: web.Request) -> web.StreamResponse:
    org, services, lang = org_of(request), request.app[SERVICES], asked_lang(request) or "th"
    async with services.db.session() as session:
        rounds = await open_figures(Work(session, services, services.clock()), org)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [t(lang, f"figures.csv_{c}") for c in ("round", "first_day", "last_day", "section", "item", "value")]
    )
    for r in rounds:
        for section, item, value in figure_rows(r, org, lang):
            writer.writerow(
                [round_title(r, lang), r.first_day.isoformat(), r.last_day.isoformat(), section, item, value]
            )
    body = "\ufeff" + out.getvalue()  # with a BOM: Excel then reads the Thai as UTF-8
    return web.Response(
        body=body.encode("utf-8"), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{org.code}-complaint-figures.csv"'},
    )  # fmt: skip
