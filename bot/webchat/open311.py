"""/open311/v2: GeoReport v2, read only, JSON (handlers/cases/open311.py says what is published).

`jurisdiction_id` is the organisation's code; with one organisation it may be left out. Errors are
the spec's list of {code, description}. Open data: any site may read it (no cookie is involved).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from bot.webchat.pages import SERVICES
from handlers.cases import open311
from handlers.core.work import Services, Work
from kernel.i18n import LANGUAGES
from kernel.org_config import OrgConfig

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-07T00:00:00+07:00"  # when this endpoint's behaviour last changed
HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": "public, max-age=60",
    "X-Content-Type-Options": "nosniff",
}
routes = web.RouteTableDef()
_dumps = functools.partial(json.dumps, ensure_ascii=False)  # Thai as Thai, not \u escapes


def open311_app(services: Services) -> web.Application:
    app = web.Application()
    app[SERVICES] = services
    app.add_routes(routes)
    return app


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def _error(status: int, description: str) -> web.Response:
    return _json([{"code": status, "description": description}], status=status, headers=HEADERS)


def _org(request: web.Request) -> OrgConfig | web.Response:
    orgs = request.app[SERVICES].orgs
    code = request.query.get("jurisdiction_id", "").upper()
    if not code:
        if orgs.single is not None:
            return orgs.single
        return _error(400, "jurisdiction_id is required: the organisation's code")
    org = orgs.get(code)
    return org if org is not None else _error(404, f"unknown jurisdiction_id {code}")


def _lang(request: web.Request) -> str:
    lang = request.query.get("locale", "th")[:2].lower()
    return lang if lang in LANGUAGES else "th"


@routes.get("/discovery.json")
async def discovery(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    base = f"{services.public_url.rstrip('/')}/open311/v2"
    return _json(
        {
            "changeset": CHANGESET,
            "contact": "the organisation's complaint centre",
            "key_service": "no key is needed: read only",
            "endpoints": [
                {
                    "specification": SPEC, "url": base, "changeset": CHANGESET, "type": "production",
                    "formats": ["application/json"],
                }
            ],
            "jurisdictions": [org.code for org in services.orgs.all],
        },
        headers=HEADERS,
    )  # fmt: skip


@routes.get("/services.json")
async def services_list(request: web.Request) -> web.Response:
    org = _org(request)
    if isinstance(org, web.Response):
        return org
    return _json(open311.services(org, _lang(request)), headers=HEADERS)


@routes.get("/requests.json")
async def requests_list(request: web.Request) -> web.Response:
    org = _org(request)
    if isinstance(org, web.Response):
        return org
    query = request.query
    status = query.get("status") or None
    if status not in (None, "open", "closed"):
        return _error(400, "status must be open or closed")
    wanted: dict[str, Any] = {"service_code": query.get("service_code") or None, "status": status}
    for name in ("start_date", "end_date"):
        if query.get(name):
            day = open311.parse_day(query[name])
            if day is None:
                return _error(400, f"{name} must be a date, e.g. 2026-10-01T00:00:00+07:00")
            wanted["start" if name == "start_date" else "end"] = day
    for name in ("page", "page_size"):
        if query.get(name):
            if not query[name].isdigit() or int(query[name]) < 1:
                return _error(400, f"{name} must be a positive number")
            wanted[name] = int(query[name])
    services = request.app[SERVICES]
    async with services.db.session() as session:
        found = await open311.service_requests(
            Work(session, services, services.clock()), org, open311.RequestFilter(**wanted), _lang(request)
        )
    return _json(found, headers=HEADERS)


@routes.get("/requests/{reference}.json")
async def one_request(request: web.Request) -> web.Response:
    org = _org(request)
    if isinstance(org, web.Response):
        return org
    services = request.app[SERVICES]
    async with services.db.session() as session:
        found = await open311.service_request(
            Work(session, services, services.clock()),
            org,
            request.match_info["reference"].upper(),
            _lang(request),
        )
    if found is None:
        return _error(404, "no such service request")
    return _json([found], headers=HEADERS)
