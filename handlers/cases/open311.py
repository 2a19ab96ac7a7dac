"""Open311 GeoReport v2, read only, for grievances: what the public may know of them, in the spec's
own field names (http://wiki.open311.org/GeoReport_v2).

Never a corruption tip-off or an information request, never who reported: a grievance's reference,
category, status, the latest public note, the division responsible and its times; its description
and its place only when the organisation's file says they are public ([open_data]).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from handlers.core.work import Work
from kernel import lifecycle
from kernel.fiscal import local_day_bounds
from kernel.org_config import OrgConfig
from storage.audit import case_history
from storage.models import Case, CaseDivision, Division

PUBLIC_TYPE = "grievance"
PAGE_SIZE = 50
PAGE_SIZE_MAX = 100
# a service request's fields, as GeoReport v2 names them
REQUEST_FIELDS = (
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
)  # fmt: skip
SERVICE_FIELDS = ("service_code", "service_name", "description", "metadata", "type", "keywords", "group")


@dataclass(frozen=True)
class RequestFilter:
    service_code: str | None = None
    status: str | None = None  # "open" or "closed"
    start: date | None = None
    end: date | None = None
    page: int = 1
    page_size: int = PAGE_SIZE


def services(org: OrgConfig, lang: str) -> list[dict[str, Any]]:
    """The grievance categories, as Open311 services."""
    return [
        {
            "service_code": c.code,
            "service_name": c.label(lang),
            "description": c.label(lang),
            "metadata": False,
            "type": "realtime",
            "keywords": ", ".join(c.keywords_en if lang == "en" else c.keywords_th),
            "group": PUBLIC_TYPE,
        }
        for c in org.categories.for_type(PUBLIC_TYPE)
    ]


async def service_requests(
    work: Work, org: OrgConfig, wanted: RequestFilter, lang: str
) -> list[dict[str, Any]]:
    """The organisation's grievances, newest first, a page at a time."""
    org_id = work.services.directory.org_ids[org.code]
    stmt = select(Case).where(col(Case.org_id) == org_id, col(Case.report_type) == PUBLIC_TYPE)
    if wanted.service_code:
        stmt = stmt.where(col(Case.category) == wanted.service_code)
    if wanted.status == "open":
        stmt = stmt.where(col(Case.status).in_(lifecycle.OPEN_STATES))
    elif wanted.status == "closed":
        stmt = stmt.where(col(Case.status).in_(lifecycle.TERMINAL_STATES))
    tz = org.tz()
    if wanted.start is not None:
        stmt = stmt.where(col(Case.created_at) >= local_day_bounds(wanted.start, wanted.start, tz)[0])
    if wanted.end is not None:
        stmt = stmt.where(col(Case.created_at) < local_day_bounds(wanted.end, wanted.end, tz)[1])
    size = max(1, min(wanted.page_size, PAGE_SIZE_MAX))
    stmt = stmt.order_by(col(Case.created_at).desc(), col(Case.id).desc())
    stmt = stmt.offset((max(1, wanted.page) - 1) * size).limit(size)
    cases = list((await work.session.execute(stmt)).scalars())
    return [await _request(work, org, case, lang) for case in cases]


async def service_request(work: Work, org: OrgConfig, reference: str, lang: str) -> dict[str, Any] | None:
    org_id = work.services.directory.org_ids[org.code]
    case = (
        await work.session.execute(
            select(Case).where(
                col(Case.org_id) == org_id,
                col(Case.reference) == reference,
                col(Case.report_type) == PUBLIC_TYPE,
            )
        )
    ).scalar_one_or_none()
    return None if case is None else await _request(work, org, case, lang)


async def _request(work: Work, org: OrgConfig, case: Case, lang: str) -> dict[str, Any]:
    assert case.id is not None
    history = await case_history(work.session, work.services.vault, case.id)
    notes = [
        e.public_note for e in history if e.public_note and e.kind in lifecycle.ACTIONS and _staff(e.actor)
    ]
    updated = max((e.at for e in history), default=case.created_at)
    divisions = await _primary_divisions(work, case.id)
    open_ = lifecycle.is_open(case.status)
    request: dict[str, Any] = {
        "service_request_id": case.reference,
        "status": "open" if open_ else "closed",
        "status_notes": notes[-1] if notes else None,
        "service_name": next(
            (c.label(lang) for c in org.categories.for_type(PUBLIC_TYPE) if c.code == case.category),
            case.category,
        ),
        "service_code": case.category,
        "description": None,
        "agency_responsible": ", ".join(org.division(code).name(lang) for code in divisions)
        or org.name(lang),
        "service_notice": None,
        "requested_datetime": _iso(case.created_at, org),
        "updated_datetime": _iso(updated, org),
        "expected_datetime": _iso(case.reply_due_at, org) if open_ else None,
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }
    public = org.open_data
    if public.grievance_descriptions or public.grievance_locations:
        details = work.services.vault.decrypt(case.details_enc) if case.details_enc else {}
        if public.grievance_descriptions:
            request["description"] = details.get("description")
        location = details.get("location")
        if public.grievance_locations and location:
            request["lat"], request["long"] = location
    return request


def _staff(actor: str) -> bool:
    return actor.startswith("staff:")


async def _primary_divisions(work: Work, case_id: int) -> list[str]:
    rows = await work.session.execute(
        select(col(Division.code))
        .join(CaseDivision, col(CaseDivision.division_id) == col(Division.id))
        .where(col(CaseDivision.case_id) == case_id, col(CaseDivision.role) == "primary")
        .order_by(col(Division.code))
    )
    return list(rows.scalars())


def _iso(moment: datetime, org: OrgConfig) -> str:
    return moment.astimezone(org.tz()).isoformat(timespec="seconds")


def parse_day(text: str) -> date | None:
    """An Open311 date (W3C datetime): its calendar day; None when it is not one."""
    # a "+" left unencoded in a query string arrives as a space: "2026-10-01T00:00:00 07:00"
    text = text.strip().replace(" ", "+").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        try:
            return datetime.combine(date.fromisoformat(text), time()).date()
        except ValueError:
            return None
