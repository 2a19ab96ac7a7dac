"""/track: a case followed by its reference and tracking code from any device, with the whole public
history, and the reporter's own actions (answer, add information or files, withdraw, rate).

The code is checked once (slowly, with the growing wait of wrong codes); the page then holds a pass
for 30 minutes in an HttpOnly, same-site-only cookie: never the code, never in the address.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from bot.webchat.forms import TooLarge, file_kind, read_form
from bot.webchat.pages import LIMITS, SECURE_COOKIE, SERVICES, asked_lang, same_origin
from handlers.cases import reporter_cases, tracked
from handlers.cases.cards import category_label
from handlers.cases.refusals import Refused
from handlers.core.work import Work
from kernel.deadlines import format_datetime
from kernel.i18n import LANGUAGES, t
from kernel.messages import FileRef

log = logging.getLogger(__name__)
COOKIE = "track"
LANG_COOKIE = "track_lang"
routes = web.RouteTableDef()


def _proof(request: web.Request) -> tracked.TrackPass | None:
    token = request.cookies.get(COOKIE, "")
    return tracked.TrackPass(token) if token else None


def _lang(request: web.Request) -> str:
    kept = request.cookies.get(LANG_COOKIE, "")
    return asked_lang(request) or (kept if kept in LANGUAGES else "th")


@routes.get("", name="track")
async def track_page(request: web.Request) -> web.StreamResponse:
    done = request.query.get("done", "")
    return await _render(request, notice=done if done in tracked.NOTICES else "")


async def _render(
    request: web.Request, *, notice: str = "", notice_args: dict[str, str] | None = None, kept: str = "",
    status: int = 200,
) -> web.StreamResponse:  # fmt: skip
    services, lang = request.app[SERVICES], _lang(request)
    proof = _proof(request)
    context: dict[str, Any] = {"lang": lang, "case": None, "kept": kept, "category": "", "max_mb": 20}
    context["when"] = lambda at: format_datetime(at, lang=lang, tz=ZoneInfo("Asia/Bangkok"))
    if proof is not None:
        async with services.db.session() as session:
            try:
                case = await tracked.public_case(Work(session, services, services.clock()), proof)
            except Refused as refused:
                notice, case = refused.key, None
        if case is not None:
            org = services.org_of(case.org_id)
            context.update(
                case=case, category=category_label(org, case.report_type, case.category, lang),
                max_mb=org.intake.max_file_mb, when=lambda at: format_datetime(at, lang=lang, tz=org.tz()),
            )  # fmt: skip
    context["notice"] = t(lang, notice, **(notice_args or {})) if notice else ""
    response = aiohttp_jinja2.render_template("track.html", request, context, status=status)
    if proof is not None and context["case"] is None:
        response.del_cookie(COOKIE, path="/track")
    return response


@routes.post("", name="look_up")
async def look_up(request: web.Request) -> web.StreamResponse:
    same_origin(request)
    posted = await request.post()
    reference, code = str(posted.get("reference", "")).strip(), str(posted.get("code", ""))
    if not request.app[LIMITS].track_per_address.allow(request.remote or "-"):
        return await _render(request, notice="webchat.slow_down", kept=reference, status=429)
    services = request.app[SERVICES]
    async with services.db.session(write=True) as session:
        work = Work(session, services, services.clock())
        found = await tracked.look_up(work, reference=reference, code=code)
        await session.commit()
    if found.proof is None:  # the web's tries are limited per address, above: never locked here
        return await _render(request, notice="status.not_found", kept=reference, status=404)
    response = web.Response(status=303, headers={"Location": "/track"})
    seconds = int(tracked.PASS_LIFETIME.total_seconds())
    secure = request.app[SECURE_COOKIE]
    response.set_cookie(
        COOKIE,
        found.proof.token,
        path="/track",
        httponly=True,
        samesite="Strict",
        max_age=seconds,
        secure=secure,
    )
    if (lang := str(posted.get("lang", ""))) in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, path="/track", httponly=True, samesite="Strict", secure=secure)
    return response


@routes.post("/add", name="add")
async def add(request: web.Request) -> web.StreamResponse:
    same_origin(request)
    services, proof = request.app[SERVICES], _proof(request)
    if proof is None:
        return await _render(request, notice="track.expired")
    try:
        form = await read_form(request, 20 * 1024 * 1024)
    except TooLarge as too_large:
        return await _render(
            request, notice="errors.file_too_large", notice_args={"mb": "20"}, kept=too_large.typed
        )
    file = None
    if form.file_data is not None and services.files is not None:
        data, files = form.file_data, services.files
        sha = await asyncio.to_thread(files.put, data)
        kind = file_kind(data, form.file_type)
        file = FileRef(kind, f"web:{sha}", None, form.file_name, form.file_type, len(data), sha256=sha)
    text = form.get("text")
    return await _act(request, proof, "track.added", kept=text, text=text or None, file=file)


@routes.post("/withdraw", name="withdraw")
async def withdraw(request: web.Request) -> web.StreamResponse:
    same_origin(request)
    proof = _proof(request)
    if proof is None:
        return await _render(request, notice="track.expired")
    return await _act(request, proof, "track.withdrawn")


@routes.post("/rate", name="rate")
async def rate(request: web.Request) -> web.StreamResponse:
    same_origin(request)
    proof, posted = _proof(request), await request.post()
    if proof is None:
        return await _render(request, notice="track.expired")
    score = str(posted.get("score", ""))
    return await _act(request, proof, "track.rated", score=int(score) if score.isdigit() else 0)


@routes.post("/forget", name="forget")
async def forget(request: web.Request) -> web.StreamResponse:
    same_origin(request)
    response = web.Response(status=303, headers={"Location": "/track"})
    response.del_cookie(COOKIE, path="/track")
    return response


async def _act(
    request: web.Request, proof: tracked.TrackPass, done: str, *, kept: str = "", **what: Any
) -> web.StreamResponse:
    """One of the reporter's use cases, by the pass; a refusal is said on the page, the text kept."""
    services = request.app[SERVICES]
    try:
        async with services.db.session(write=True) as session:
            work = Work(session, services, services.clock())
            case_id = tracked.case_of(work, proof)
            if done == "track.added":
                files = [what["file"]] if what.get("file") else []
                if what.get("text"):
                    await reporter_cases.add_information(work, case_id=case_id, by=proof, text=what["text"])
                for file in files:
                    await reporter_cases.add_information(work, case_id=case_id, by=proof, file=file)
                if not files and not what.get("text"):
                    return await _render(request, notice="webchat.empty")
            elif done == "track.withdrawn":
                await reporter_cases.withdraw(work, case_id=case_id, by=proof)
            else:
                await reporter_cases.rate(work, case_id=case_id, by=proof, score=what["score"])
            await session.commit()
    except Refused as refused:
        return await _render(request, notice=refused.key, notice_args=refused.values, kept=kept, status=409)
    services.on_queued()
    return web.Response(status=303, headers={"Location": f"/track?done={done}"})
