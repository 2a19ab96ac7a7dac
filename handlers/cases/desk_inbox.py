"""The desk's inbox: the open cases a person may act on, nearest deadline first, with filters that
live in the page's address and counts per filter. Searching by words, a closed state or a received
date turns it into a search of every case they may see, newest first. Rows carry no reporter data
at all."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from handlers.cases.search import MAX_WORDS, terms
from handlers.core.work import Work
from kernel.deadlines import read_date
from kernel.fiscal import local_day_bounds
from kernel.lifecycle import OPEN_STATES, TERMINAL_STATES
from kernel.org_config import REPORT_TYPES, OrgConfig
from storage import cases as case_repo
from storage import search as search_repo
from storage.models import Case
from storage.staff import StaffMember

DUE_BANDS = ("overdue", "today", "week")
STATES = OPEN_STATES + TERMINAL_STATES
PAGE = 50
# a reference or a part of one ("CM-2569-000123", "2569-0001", "123"): anything else is words
REFERENCE_LIKE = re.compile(r"[A-Z]{0,5}-?[0-9][0-9-]*")


@dataclass(frozen=True)
class InboxFilters:
    status: str = ""
    report_type: str = ""
    division: str = ""
    due: str = ""
    category: str = ""
    received_from: str = ""  # ISO dates, the organisation's days
    received_to: str = ""
    q: str = ""  # a reference or part of one, or words of the case's text
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str], org: OrgConfig) -> InboxFilters:
        """Unknown values are ignored: an edited address shows everything rather than an error."""

        def pick(name: str, allowed: tuple[str, ...]) -> str:
            value = query.get(name, "")
            return value if value in allowed else ""

        def day(name: str) -> str:
            try:
                # a browser without a date picker sends what was typed: 1/12/2569 too
                return read_date(query.get(name, "")).isoformat()
            except ValueError:
                return ""

        page = query.get("page", "1")
        categories = tuple(c.code for rt in REPORT_TYPES for c in org.categories.for_type(rt))
        return cls(
            status=pick("status", STATES), report_type=pick("report_type", REPORT_TYPES),
            division=pick("division", tuple(org.division_codes())), due=pick("due", DUE_BANDS),
            category=pick("category", categories), received_from=day("received_from"),
            received_to=day("received_to"), q=" ".join(query.get("q", "").split())[:100],
            page=int(page) if page.isdigit() and int(page) > 0 else 1,
        )  # fmt: skip

    @property
    def reference(self) -> str:
        """The reference (or part) searched for, if the search is one."""
        return self.q.upper() if REFERENCE_LIKE.fullmatch(self.q.upper()) else ""

    @property
    def searches_all(self) -> bool:
        """Words, a closed state or received dates: a search of every case, not the open inbox."""
        words = bool(self.q) and not self.reference
        return words or self.status in TERMINAL_STATES or bool(self.received_from or self.received_to)

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
    # per filter, how many of the person's open cases have each value (none for a search of all)
    counts: dict[str, dict[str, int]]
    searched_all: bool = False


async def desk_inbox(work: Work, *, member: StaffMember, filters: InboxFilters) -> InboxPage:
    org = work.services.org_of(member.org_id)
    ids = work.services.directory.division_ids
    scope = None if member.oversees else set(member.division_ids)
    if filters.division:
        wanted = {ids[(org.code, filters.division)]}
        scope = wanted if scope is None else scope & wanted
    # a province coordinator: every organisation of the deployment
    org_ids = list(work.services.directory.org_ids.values()) if member.sees_province else [member.org_id]
    if filters.searches_all:
        return await _search_all(work, org_ids, scope, filters, org)
    found = await case_repo.open_cases(work.session, org_id=org_ids, division_ids=scope)
    bands = {case.id: due_band(case, work.now, org) for case in found}
    counts = {
        "status": dict(Counter(c.status for c in found)),
        "report_type": dict(Counter(c.report_type for c in found)),
        "due": dict(Counter(b for b in bands.values() if b)),
        "category": dict(Counter(c.category for c in found)),
    }
    counts["due"]["week"] = counts["due"].get("week", 0) + counts["due"].get("today", 0)
    kept = [
        c for c in found
        if (not filters.status or c.status == filters.status)
        and (not filters.report_type or c.report_type == filters.report_type)
        and (not filters.due or _in_band(bands[c.id], filters.due))
        and (not filters.category or c.category == filters.category)
        and (not filters.reference or filters.reference in c.reference)
    ]  # fmt: skip
    start = (filters.page - 1) * PAGE
    rows = [
        InboxRow(c.reference, c.report_type, c.category, c.status, _due(c), _due(c) < work.now)
        for c in kept[start : start + PAGE]
    ]
    return InboxPage(rows, len(kept), max(1, -(-len(kept) // PAGE)), counts)


async def _search_all(
    work: Work, org_ids: list[int], scope: set[int] | None, filters: InboxFilters, org: OrgConfig
) -> InboxPage:
    """Every case the person may see that matches, open or closed, newest first, paged in SQL."""
    tz = org.tz()
    start = end = None
    if filters.received_from:
        first = date.fromisoformat(filters.received_from)
        start = local_day_bounds(first, first, tz)[0]
    if filters.received_to:
        last = date.fromisoformat(filters.received_to)
        end = local_day_bounds(last, last, tz)[1]
    words = (
        terms(work.services.vault, filters.q, most=MAX_WORDS)
        if filters.q and not filters.reference
        else set()
    )
    if filters.q and not filters.reference and not words:
        return InboxPage([], 0, 1, {}, searched_all=True)  # only punctuation or one-letter bits
    query = search_repo.CaseQuery(
        org_ids=org_ids, division_ids=scope, terms=words, status=filters.status,
        report_type=filters.report_type, category=filters.category, reference=filters.reference,
        received_from=start, received_before=end,
    )  # fmt: skip
    found, total = await search_repo.find_cases(
        work.session, query, limit=PAGE, offset=(filters.page - 1) * PAGE
    )
    rows = [
        InboxRow(
            c.reference,
            c.report_type,
            c.category,
            c.status,
            c.closed_at or _due(c),
            c.status in OPEN_STATES and _due(c) < work.now,
        )
        for c in found
    ]
    return InboxPage(rows, total, max(1, -(-total // PAGE)), {}, searched_all=True)


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
