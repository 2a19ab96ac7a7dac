"""The desk's inbox: the open cases a person may act on, nearest deadline first, with filters that
live in the page's address and counts per filter. Rows carry no reporter data at all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from handlers.core.work import Work
from kernel.lifecycle import OPEN_STATES
from kernel.org_config import REPORT_TYPES, OrgConfig
from storage import cases as case_repo
from storage.models import Case
from storage.staff import StaffMember

DUE_BANDS = ("overdue", "today", "week")
PAGE = 50


@dataclass(frozen=True)
class InboxFilters:
    status: str = ""
    report_type: str = ""
    division: str = ""
    due: str = ""
    q: str = ""  # a reference, or part of one
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str], org: OrgConfig) -> InboxFilters:
        """Unknown values are ignored: an edited address shows everything rather than an error."""

        def pick(name: str, allowed: tuple[str, ...]) -> str:
            value = query.get(name, "")
            return value if value in allowed else ""

        page = query.get("page", "1")
        return cls(
            status=pick("status", OPEN_STATES), report_type=pick("report_type", REPORT_TYPES),
            division=pick("division", tuple(org.division_codes())), due=pick("due", DUE_BANDS),
            q=query.get("q", "").strip().upper()[:30],
            page=int(page) if page.isdigit() and int(page) > 0 else 1,
        )  # fmt: skip

    def url(self, **changes: str | int) -> str:
        """This inbox's address with some filters changed (a new filter starts at page 1)."""
        changed = replace(self, **{"page": 1, **changes})  # type: ignore[arg-type]
        query = {f.name: getattr(changed, f.name) for f in fields(changed)}
        return "?" + urlencode({k: v for k, v in query.items() if v and not (k == "page" and v == 1)})


@dataclass(frozen=True)
class InboxRow:
    reference: str
    report_type: str
    category: str
    status: str
    due: datetime
    overdue: bool


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int  # matching the filters
    pages: int
    # per filter, how many of the person's open cases have each value
    counts: dict[str, dict[str, int]]


async def desk_inbox(work: Work, *, member: StaffMember, filters: InboxFilters) -> InboxPage:
    org = work.services.org_of(member.org_id)
    ids = work.services.directory.division_ids
    scope = None if member.oversees else set(member.division_ids)
    if filters.division:
        wanted = {ids[(org.code, filters.division)]}
        scope = wanted if scope is None else scope & wanted
    found = await case_repo.open_cases(work.session, org_id=member.org_id, division_ids=scope)
    bands = {case.id: due_band(case, work.now, org) for case in found}
    counts = {
        "status": dict(Counter(c.status for c in found)),
        "report_type": dict(Counter(c.report_type for c in found)),
        "due": dict(Counter(b for b in bands.values() if b)),
    }
    counts["due"]["week"] = counts["due"].get("week", 0) + counts["due"].get("today", 0)
    kept = [
        c for c in found
        if (not filters.status or c.status == filters.status)
        and (not filters.report_type or c.report_type == filters.report_type)
        and (not filters.due or _in_band(bands[c.id], filters.due))
        and (not filters.q or filters.q in c.reference)
    ]  # fmt: skip
    start = (filters.page - 1) * PAGE
    rows = [
        InboxRow(c.reference, c.report_type, c.category, c.status, _due(c), _due(c) < work.now)
        for c in kept[start : start + PAGE]
    ]
    return InboxPage(rows, len(kept), max(1, -(-len(kept) // PAGE)), counts)


def _due(case: Case) -> datetime:
    """The deadline that matters now: acknowledging a new case, then replying."""
    return case.ack_due_at if case.status == "received" else case.reply_due_at


def due_band(case: Case, now: datetime, org: OrgConfig) -> str:
    """Overdue, due today, within 7 days, or later ("")."""
    due = _due(case)
    if due < now:
        return "overdue"
    local_due, today = due.astimezone(org.tz()).date(), now.astimezone(org.tz()).date()
    if local_due == today:
        return "today"
    return "week" if local_due <= today + timedelta(days=7) else ""


def _in_band(band: str, wanted: str) -> bool:
    # "this week" includes today; overdue stands apart
    return band == wanted or (wanted == "week" and band == "today")
