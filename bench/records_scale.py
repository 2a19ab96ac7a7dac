"""Records at scale: /status, a division's open-case list, the round summary and the yearly statistics
over 1,000,000 cases in 10 years and 50 organisations.

The schema comes from the project's migrations (`storage.db.upgrade_database`, to `--revision`, default
head). Then a synthetic deployment is bulk-loaded (SQLAlchemy Core executemany on SQLite, asyncpg COPY on
PostgreSQL; the load is timed apart and is not part of the goal):

* 50 organisations: the shipped Chiang Mai PAO file and 49 smaller ones made from it (5 to 9 divisions),
  sized 1/sqrt(rank), so the PAO has about 8% of all cases; 10 years, 80% more cases a year at the end
  than at the start; case ids in time order across organisations, as a live desk writes them.
* per case: type (grievance 75%, corruption 15%, information 10%), personnel answer, category, the real
  routing (`route_report`), a transfer to an operating division for many grievances, reporters who
  mostly report once but some many times (up to 80 cases), 40% anonymous, Telegram or LINE; open with
  a probability that falls with age (about 99% on the day, 20% after 45 days, 0.4% after two years),
  otherwise resolved, forwarded, closed or withdrawn, with the acknowledgement, reply and closing times
  that implies; personal data erased from cases closed more than the retention period (5 years) ago.
* the reporter look-up key is the real HMAC (`Vault.lookup_key`); the encrypted columns are real Fernet
  tokens from `Vault.encrypt` and the tracking hashes real scrypt hashes, drawn from pools (a million
  distinct tokens would take ~40 s and scrypt hashes 10 hours, and change nothing these reads do);
* the action plan: three 5-year editions, 40 to 105 items per organisation and edition, and their
  progress reports (1-3 per item and round, late ones included);
* a staff chat bound to every division with one staff member in it.

Then each operation is timed through the code the bot runs for it, each sample in its own session, for
random reporters, divisions, organisations and years, after a warm-up:

* /status: `handlers.citizen.tracking.show_my_cases` (the reply with the reporter's latest cases and buttons),
  for reporters with at least two cases;
* a division's open-case list: `/cases` in the division's chat (`handlers.staff.case_views.list_cases`);
* the round summary: `handlers.rounds.periods.build_summary` and `summary_text` (the /summary reply and
  `damrongtham round summary`, without the chart);
* the yearly statistics: `handlers.cases.stats.summarise` and `summary_table` for a fiscal
  year's 12-month round (`damrongtham stats`).

No case events, attachments or outbox rows are loaded: none of these reads touches them.

    /tmp/venv/bin/python bench/records_scale.py [--quick] [--cases N] [--samples N] [--revision REV]
                                                [--explain] [--no-sqlite] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import logging
import math
import random
import re
import tempfile
import time
from abc import ABC, abstractmethod
from array import array
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import benchlib as bl
from cryptography.fernet import Fernet
from sqlalchemy import Table, event, text
from sqlalchemy.engine import make_url

from bot.app import freeze_startup_objects
from handlers.cases.stats import summarise, summary_table
from handlers.citizen.tracking import show_my_cases
from handlers.core.turn import Turn
from handlers.core.work import Services
from handlers.engine import STEPS
from handlers.rounds.periods import build_summary
from handlers.rounds.summary import summary_text
from handlers.staff import case_views
from kernel.deadlines import buddhist_year
from kernel.fiscal import ROUNDS, fiscal_year_of, local_day_bounds, round_due, round_period
from kernel.lifecycle import OPEN_STATES
from kernel.messages import Incoming
from kernel.org_config import OrgConfig
from kernel.org_files import Organisations, load_organisations
from kernel.routing import Route, route_report
from storage import cases as case_repo
from storage import organisations as org_repo
from storage.crypto import Vault, hash_tracking_code, new_tracking_code
from storage.db import Database, upgrade_database
from storage.models import (
    Case,
    CaseCounter,
    CaseDivision,
    ChatBinding,
    Conversation,
    PlanItem,
    ProgressReport,
    Staff,
    StaffDivision,
)

GOAL_MS = {"SQLite": 200.0, "PostgreSQL": 50.0}
GOAL = "p99 under 50 ms on PostgreSQL and under 200 ms on SQLite for each of the four operations"
ORGS, YEARS, SEED = 50, 10, 20261126
BATCH = 10_000
RETENTION_DAYS = 1825  # [privacy] retention_days of the shipped file
OPS = ("/status", "/cases (division)", "round summary", "yearly statistics")

# --- the synthetic deployment --------------------------------------------------------------

OPTIONAL_DIVISIONS = ("procurement", "audit", "health", "education")
CATEGORY_WEIGHTS = {
    "corruption": {"bribery": 25, "procurement": 25, "abuse": 20, "property": 10, "conflict": 10,
                   "other": 10},
    "grievance": {"roads": 30, "water": 20, "environment": 15, "health": 8, "education": 5, "service": 12,
                  "other": 10},
    "information": {"budget": 25, "procurement": 30, "projects": 25, "orders": 10, "other": 10},
}  # fmt: skip
# where staff hand a case over to, once it is accepted (grievances mostly; see handlers/case_actions)
TRANSFERS = {
    ("grievance", "roads"): "engineering",
    ("grievance", "water"): "engineering",
    ("grievance", "environment"): "health",
    ("grievance", "health"): "health",
    ("grievance", "education"): "education",
    ("corruption", "procurement"): "procurement",
}
CLOSED = (("resolved", 68), ("forwarded", 10), ("closed_no_action", 14), ("withdrawn", 8))
OPEN_LATER = (("received", 10), ("accepted", 25), ("investigating", 45), ("awaiting_info", 20))
DIMENSION_WEIGHTS = (26, 19, 28, 32)  # the seed's 12-month round
THAI_WORDS = (
    "เจ้าหน้าที่", "ถนนในหมู่บ้าน", "ชำรุดเป็นหลุมลึก", "น้ำประปาไม่ไหล", "มาหลายวันแล้ว", "ขยะไม่มีคนเก็บ",
    "ส่งกลิ่นเหม็น", "ขอให้ตรวจสอบ", "โครงการก่อสร้าง", "ไม่เป็นไปตามแบบ", "เรียกรับเงิน", "เพื่อเร่งอนุมัติ",
    "ไฟฟ้าส่องสว่าง", "ดับทั้งซอย", "ในตำบลสุเทพ", "อำเภอเมืองเชียงใหม่", "ผู้รับเหมา", "ทิ้งงาน",
)  # fmt: skip


def build_orgs(count: int, rng: random.Random) -> Organisations:
    """The shipped PAO and `count - 1` smaller organisations made from its file."""
    base = load_organisations("").all[0]
    data = base.model_dump()
    out = [base]
    for i in range(2, count + 1):
        keep = {"office", "legal", "personnel", "finance", "engineering"}
        keep |= set(rng.sample(OPTIONAL_DIVISIONS, k=rng.randint(0, len(OPTIONAL_DIVISIONS))))
        out.append(
            OrgConfig.model_validate(
                data
                | {
                    "code": f"L{i:02d}",
                    "name_th": f"เทศบาลตำบลทดสอบแห่งที่ {i}",
                    "name_en": f"Test Subdistrict Municipality {i}",
                    "centre_name_th": "",
                    "centre_name_en": "",
                    "divisions": [d for d in data["divisions"] if d["code"] in keep],
                }
            )
        )
    return Organisations(out)


def thai_text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(THAI_WORDS))
    return " ".join(words)[:chars]


@dataclass
class Pools:
    """Real ciphertexts and hashes, reused across rows (see the module's docstring)."""

    details: list[str]
    details_erased: list[str]
    anonymous: list[str]
    named: list[str]
    erased: list[str]
    tracking: list[str]

    @classmethod
    def make(cls, vault: Vault, rng: random.Random, size: int = 2048) -> Pools:
        def details(erased: bool) -> str:
            length = int(min(3000, max(15, rng.lognormvariate(math.log(200), 0.8))))
            d: dict[str, Any] = {"description": thai_text(rng, length), "when": None, "where": None,
                                 "location": None, "people": None}  # fmt: skip
            if not erased:
                if rng.random() < 0.5:
                    d["when"] = thai_text(rng, rng.randint(10, 40))
                if rng.random() < 0.4:
                    d["where"] = thai_text(rng, rng.randint(15, 80))
                if rng.random() < 0.2:
                    d["location"] = [round(rng.uniform(18.0, 20.0), 6), round(rng.uniform(98.0, 99.5), 6)]
                if rng.random() < 0.3:
                    d["people"] = thai_text(rng, rng.randint(10, 120))
            return vault.encrypt(d)

        def named() -> str:
            return vault.encrypt(
                {"chat_id": str(rng.randint(10**9, 8 * 10**9)), "user_id": str(rng.randint(10**9, 8 * 10**9)),
                 "name": thai_text(rng, rng.randint(8, 30)), "phone": f"08{rng.randint(0, 99_999_999):08d}",
                 "contact": None}
            )  # fmt: skip

        return cls(
            details=[details(False) for _ in range(size)],
            details_erased=[details(True) for _ in range(size // 4)],
            anonymous=[vault.encrypt({"chat_id": str(rng.randint(10**9, 8 * 10**9))}) for _ in range(size)],
            named=[named() for _ in range(size)],
            erased=[vault.encrypt({"erased": True}) for _ in range(16)],
            tracking=[hash_tracking_code(new_tracking_code()) for _ in range(8)],
        )


def p_open(age_days: float) -> float:
    """How likely a case of this age is still open: most close within weeks, a few linger for years."""
    return 0.95 * math.exp(-age_days / 25) + 0.04 * math.exp(-age_days / 200) + 0.003


class Weighted:
    """Draws keys by weight (cumulative weights computed once)."""

    def __init__(self, table: Sequence[tuple[str, int]]) -> None:
        self.keys = [k for k, _ in table]
        self.cumulative = list(itertools.accumulate(w for _, w in table))

    def __call__(self, rng: random.Random) -> str:
        return rng.choices(self.keys, cum_weights=self.cumulative)[0]


CASE_COLUMNS = tuple(c.name for c in Case.__table__.columns)  # type: ignore[attr-defined]
PLAN_COLUMNS = tuple(c.name for c in PlanItem.__table__.columns)  # type: ignore[attr-defined]
REPORT_COLUMNS = tuple(c.name for c in ProgressReport.__table__.columns)  # type: ignore[attr-defined]


@dataclass
class Truth:
    """What the generator made, to pick samples and check the answers."""

    reporters: dict[int, tuple[str, str]] = field(default_factory=dict)  # sampled: id -> (channel, user)
    reporter_cases: Counter[int] = field(default_factory=Counter)  # their cases not erased
    open_by_division: Counter[int] = field(default_factory=Counter)
    by_org_year: Counter[tuple[str, int]] = field(default_factory=Counter)  # (org code, fiscal year)
    # (org code, fiscal year) -> its cases by primary division code ("coordinators" for none)
    divisions_by_org_year: defaultdict[tuple[str, int], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    items_by_org_year: Counter[tuple[str, int]] = field(default_factory=Counter)
    staff_chats: list[tuple[int, str, str]] = field(default_factory=list)  # (division id, chat, user)
    fiscal_years: list[int] = field(default_factory=list)


class Generator:
    def __init__(self, *, cases: int, orgs: Organisations, directory: org_repo.Directory, vault: Vault,
                 now: datetime, status_samples: int) -> None:  # fmt: skip
        self.rng = random.Random(SEED)
        self.cases, self.orgs, self.directory, self.vault, self.now = cases, orgs, directory, vault, now
        self.start = now - timedelta(days=round(365.25 * YEARS))
        self.pools = Pools.make(vault, self.rng)
        self.truth = Truth()
        first_fy, last_fy = fiscal_year_of(self.start.date()), fiscal_year_of(now.date())
        self.truth.fiscal_years = list(range(first_fy, last_fy + 1))
        self._status_samples = status_samples
        self._routes: dict[tuple[str, str, str, str | None], Route] = {}
        self.counters: Counter[tuple[int, int]] = Counter()  # (org id, B.E. year) -> last sequence number

    # -- cases ---------------------------------------------------------------------------------

    def _when(self, x: float) -> float:
        """x in [0, 1) spread over the years with 80% more cases a year at the end than at the start."""
        g = 0.8
        return (-1 + math.sqrt(1 + 2 * g * x * (1 + g / 2))) / g

    def _stubs(self) -> tuple[array[float], array[int], array[int], list[int]]:
        """(time, organisation, reporter) of every case, and each reporter's number of cases."""
        rng, orgs = self.rng, self.orgs.all
        weights = [1 / math.sqrt(i) for i in range(1, len(orgs) + 1)]
        quota = [int(self.cases * w / sum(weights)) for w in weights]
        quota[0] += self.cases - sum(quota)
        span_s = (self.now - self.start).total_seconds()
        times, org_of, reporter_of = array("d"), array("H"), array("I")
        counts: list[int] = []
        for org_index, n in enumerate(quota):
            made = 0
            while made < n:
                u = rng.random()
                k = (1 if u < 0.75 else 2 if u < 0.87 else rng.randint(3, 5) if u < 0.96
                     else rng.randint(6, 20) if u < 0.995 else rng.randint(21, 80))  # fmt: skip
                k = min(k, n - made)
                # a repeat reporter's cases lie within a window of up to 2.5 years around a moment
                spread = 0.0 if k == 1 else rng.uniform(30, 900) * 86400
                centre = self._when(rng.random()) * span_s
                reporter = len(counts)
                counts.append(k)
                for _ in range(k):
                    t = abs(centre + (rng.random() - 0.5) * spread)  # reflected at both ends
                    times.append(min(t, 2 * span_s - t))
                    org_of.append(org_index)
                    reporter_of.append(reporter)
                made += k
        return times, org_of, reporter_of, counts

    @staticmethod
    def reporter_identity(reporter: int) -> tuple[str, str]:
        if (reporter * 2654435761) % 100 < 20:
            return "line", f"U{reporter:032x}"
        return "telegram", str(1_000_000_000 + reporter)

    def _route(self, org: OrgConfig, report_type: str, concerns: str, named: str | None) -> Route:
        key = (org.code, report_type, concerns, named)
        if key not in self._routes:
            self._routes[key] = route_report(
                org, report_type=report_type, concerns_personnel=concerns, named_division=named
            )
        return self._routes[key]

    def case_batches(self) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """Batches of (case rows, case_divisions rows), in time order (ids follow time)."""
        rng, truth, orgs, directory = self.rng, self.truth, self.orgs.all, self.directory
        times, org_of, reporter_of, counts = self._stubs()
        several = [r for r, k in enumerate(counts) if k >= 2]
        for r in rng.sample(several, min(len(several), self._status_samples)):
            truth.reporters[r] = self.reporter_identity(r)
        del several
        order = sorted(range(len(times)), key=times.__getitem__)
        start, now_ts = self.start, self.now.timestamp()
        tz = orgs[0].tz()
        category_of = {rt: Weighted(list(w.items())) for rt, w in CATEGORY_WEIGHTS.items()}
        open_status, closed_status = Weighted(OPEN_LATER), Weighted(CLOSED)
        org_ids = [directory.org_ids[o.code] for o in orgs]
        div_ids = [{d.code: directory.division_ids[(o.code, d.code)] for d in o.divisions} for o in orgs]
        seq = self.counters
        p = self.pools
        cases: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        for position, i in enumerate(order, start=1):
            org_index, reporter = org_of[i], reporter_of[i]
            org, org_id, divisions = orgs[org_index], org_ids[org_index], div_ids[org_index]
            created = start + timedelta(seconds=times[i])
            age = (now_ts - created.timestamp()) / 86400
            be_year = buddhist_year(created, tz)
            seq[(org_id, be_year)] += 1
            u = rng.random()
            report_type = "grievance" if u < 0.75 else "corruption" if u < 0.90 else "information"
            if report_type == "information":
                concerns = "no"
            else:
                u = rng.random()
                concerns = "yes" if u < 0.2 else "no" if u < 0.7 else "unsure"
            category = category_of[report_type](rng)
            named = (
                rng.choice(list(divisions)) if report_type == "corruption" and rng.random() < 0.04 else None
            )
            route = self._route(org, report_type, concerns, named)
            # status and the times it implies
            if rng.random() < p_open(age):
                status = "received" if age < 1 and rng.random() < 0.7 else open_status(rng)
                closed_at = None
                acted = age * rng.uniform(0.3, 1.0)
            else:
                status = closed_status(rng)
                days = rng.lognormvariate(math.log(12), 0.9)
                if days > age:
                    days = age * rng.uniform(0.2, 1.0)
                closed_at = created + timedelta(days=days)
                acted = days
            acknowledged_at = replied_at = None
            if status != "received" and not (status == "withdrawn" and rng.random() < 0.3):
                acknowledged_at = created + timedelta(days=min(acted, rng.expovariate(1 / 0.6)))
            if status in ("resolved", "forwarded", "closed_no_action") or (
                status in ("investigating", "awaiting_info") and rng.random() < 0.5
            ):
                replied_at = created + timedelta(days=acted * rng.uniform(0.5, 1.0))
            weekday = created.astimezone(tz).weekday()
            ack_due = created + timedelta(days=3 if weekday == 4 else 2 if weekday == 5 else 1)
            erased = closed_at is not None and age - (closed_at - created).days > RETENTION_DAYS
            anonymous = rng.random() < 0.4
            channel, user_id = self.reporter_identity(reporter)
            if erased:
                reporter_key, reporter_enc = "erased", rng.choice(p.erased)
                details_enc = rng.choice(p.details_erased)
            else:
                reporter_key = self.vault.lookup_key(channel, user_id)
                reporter_enc = rng.choice(p.anonymous if anonymous else p.named)
                details_enc = rng.choice(p.details)
                if reporter in truth.reporters:
                    truth.reporter_cases[reporter] += 1
            rating = None
            if status == "resolved" and rng.random() < 0.3:
                rating = rng.choices((1, 2, 3, 4, 5), weights=(5, 5, 15, 35, 40))[0]
            row = {
                "id": position, "org_id": org_id,
                "reference": f"{org.code}-{be_year}-{seq[(org_id, be_year)]:06d}",
                "be_year": be_year, "seq": seq[(org_id, be_year)], "report_type": report_type,
                "concerns_personnel": concerns, "named_division_id": divisions[named] if named else None,
                "category": category, "status": status, "anonymous": anonymous,
                "lang": "en" if rng.random() < 0.05 else "th", "details_enc": details_enc,
                "reporter_enc": reporter_enc, "reporter_channel": channel, "reporter_key": reporter_key,
                "tracking_hash": rng.choice(p.tracking), "created_at": created, "ack_due_at": ack_due,
                "reply_due_at": created + timedelta(days=15),
                "update_due_at": created + timedelta(days=15 * (1 + int(acted // 15))),
                "acknowledged_at": acknowledged_at, "replied_at": replied_at, "closed_at": closed_at,
                "rating": rating,
            }  # fmt: skip
            primary = route.primary
            moved = TRANSFERS.get((report_type, category))
            if status != "received" and moved in divisions and moved not in primary and rng.random() < 0.6:
                primary = (moved,)
            # decided after the row's other draws, so the data stay those of earlier runs
            row["primary_division_ids"] = case_repo.primary_divisions_text(
                divisions[code] for code in primary
            )
            cases.append(tuple(row[c] for c in CASE_COLUMNS))
            fiscal_year = fiscal_year_of(created.astimezone(tz).date())
            truth.divisions_by_org_year[(org.code, fiscal_year)].update(primary or ("coordinators",))
            is_open = status in OPEN_STATES
            for role, assigned in (("primary", primary), ("informed", route.informed)):
                for code in assigned:
                    if role == "informed" and code in primary:
                        continue
                    links.append((position, divisions[code], role))
                    if is_open:
                        truth.open_by_division[divisions[code]] += 1
            truth.by_org_year[(org.code, fiscal_year)] += 1
            if len(cases) >= BATCH:
                yield cases, links
                cases, links = [], []
        if cases:
            yield cases, links

    # -- staff, counters, the action plan --------------------------------------------------------

    def staff_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """(chat_bindings, staff, staff_divisions): a bound chat and one staff member per division."""
        bindings: list[tuple[Any, ...]] = []
        staff: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        for org in self.orgs.all:
            org_id = self.directory.org_ids[org.code]
            for d in org.divisions:
                n = len(bindings) + 1
                division_id = self.directory.division_ids[(org.code, d.code)]
                chat, user = str(-1_002_000_000_000 - n), str(5_000_000_000 + n)
                bindings.append((n, org_id, f"division:{d.code}", division_id, "telegram", chat, self.start))
                staff.append((n, org_id, "telegram", user, "staff", f"เจ้าหน้าที่ {n}", True, self.start))
                links.append((n, division_id))
                self.truth.staff_chats.append((division_id, chat, user))
        return bindings, staff, links

    def counter_rows(self) -> list[tuple[Any, ...]]:
        return [(org_id, be_year, last) for (org_id, be_year), last in sorted(self.counters.items())]

    def plan_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Three 5-year plan editions; items run 1-5 of their edition's years; reports per round."""
        rng, truth = self.rng, self.truth
        first_fy, last_fy = truth.fiscal_years[0], truth.fiscal_years[-1]
        editions = [range(y, y + 5) for y in range(first_fy, last_fy + 1, 5)]
        items: list[tuple[Any, ...]] = []
        reports: list[tuple[Any, ...]] = []
        today = self.now.date()
        for rank, org in enumerate(self.orgs.all, start=1):
            org_id = self.directory.org_ids[org.code]
            division_ids = [self.directory.division_ids[(org.code, d.code)] for d in org.divisions]
            per_edition = max(20, round(105 / rank**0.25))
            for edition in editions:
                for k in range(per_edition):
                    dimension = rng.choices((1, 2, 3, 4), weights=DIMENSION_WEIGHTS)[0]
                    if rng.random() < 0.5:
                        years = list(edition)
                    else:
                        first = rng.choice(edition)
                        years = [y for y in edition if first <= y < first + rng.randint(1, 5)]
                    item_id = len(items) + 1
                    items.append(
                        (item_id, org_id, f"{edition[0]}-{dimension}.{k + 1:03d}",
                         "โครงการ" + thai_text(rng, rng.randint(40, 140)), f"Project {k + 1} of {edition[0]}",
                         dimension, rng.choice(division_ids), ",".join(map(str, years)),
                         Decimal(rng.randint(0, 500)) * 1000 if rng.random() < 0.7 else None, self.start)
                    )  # fmt: skip
                    for fy in years:
                        if fy > last_fy:
                            continue
                        truth.items_by_org_year[(org.code, fy)] += 1
                        for name in ("6m", "12m"):
                            reports += self._reports(item_id, org, org_id, fy, name, today)
        return items, [(n, *r) for n, r in enumerate(reports, start=1)]

    def _reports(
        self, item_id: int, org: OrgConfig, org_id: int, fy: int, name: str, today: date
    ) -> list[tuple[Any, ...]]:
        rng = self.rng
        begin, end = round_period(fy, name)
        due = round_due(fy, name, due_6m=org.plan.due_6m, due_12m=org.plan.due_12m)
        if begin > today:
            return []
        running = end >= today
        if rng.random() > (0.2 if running else 0.95 if name == "12m" else 0.9):
            return []
        tz = org.tz()
        out = []
        count = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        for n in range(count):
            last = n == count - 1
            if running:
                day = begin + timedelta(days=rng.randint(0, max(0, (today - begin).days - 1)))
            else:
                late = rng.random() < 0.05
                day = (
                    due + timedelta(days=rng.randint(1, 20))
                    if late
                    else end - timedelta(days=rng.randint(0, 40))
                )
            at = datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.randint(0, 59), tzinfo=tz)
            if at > self.now:
                at = self.now - timedelta(hours=1)
            if last:
                status = "done" if rng.random() < (0.9 if name == "12m" else 0.5) else "in_progress"
            else:
                status = rng.choice(("in_progress", "not_started"))
            note = thai_text(rng, rng.randint(20, 200)) if rng.random() < 0.6 else None
            out.append((org_id, item_id, fy, name, status, note, None, f"staff:{rng.randint(1, 400)}",
                        at.astimezone(UTC)))  # fmt: skip
        out.sort(key=lambda r: r[-1])
        return out


# --- loading -------------------------------------------------------------------------------


class Sink(ABC):
    """Where the generated rows go: one per database (SqliteSink, PostgresSink)."""

    name = ""
    seconds = 0.0

    async def write(self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        started = time.perf_counter()
        if rows:
            await self._write(table, columns, rows)
        self.seconds += time.perf_counter() - started

    @abstractmethod
    async def _write(self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None: ...

    async def finish(self) -> None:  # optional: what a sink does after the last batch
        return None


class SqliteSink(Sink):
    name = "SQLite"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _write(self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])

    async def finish(self) -> None:
        # no ANALYZE: the bot never runs it on SQLite, so the planner works without statistics
        started = time.perf_counter()
        async with self.db.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        self.seconds += time.perf_counter() - started


class PostgresSink(Sink):
    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn: asyncpg.Connection | None = None

    async def _write(self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if self.conn is None:
            self.conn = await asyncpg.connect(self.dsn)
        await self.conn.copy_records_to_table(table.name, records=rows, columns=list(columns))

    async def finish(self) -> None:
        started = time.perf_counter()
        assert self.conn is not None
        for name in ("cases", "plan_items", "progress_reports", "staff", "chat_bindings"):
            await self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
            )
        # what autovacuum does to a freshly loaded table: statistics and the visibility map
        await self.conn.execute("VACUUM ANALYZE")
        await self.conn.close()
        self.seconds += time.perf_counter() - started


def table_of(model: Any) -> Table:
    table: Table = model.__table__
    return table


async def load(gen: Generator, sinks: Sequence[Sink]) -> float:
    """Everything into every sink; returns the seconds spent generating."""
    spent = 0.0
    done = 0
    started = time.perf_counter()

    async def put(model: Any, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        for sink in sinks:
            await sink.write(table_of(model), columns, rows)

    t0 = time.perf_counter()
    bindings, staff, links = gen.staff_rows()
    spent += time.perf_counter() - t0
    binding_cols = ("id", "org_id", "target", "division_id", "channel", "chat_id", "created_at")
    staff_cols = ("id", "org_id", "channel", "user_id", "role", "display_name", "active", "created_at")
    await put(ChatBinding, binding_cols, bindings)
    await put(Staff, staff_cols, staff)
    await put(StaffDivision, ("staff_id", "division_id"), links)
    batches = gen.case_batches()
    while True:
        t0 = time.perf_counter()
        batch = next(batches, None)
        spent += time.perf_counter() - t0
        if batch is None:
            break
        cases, case_links = batch
        await put(Case, CASE_COLUMNS, cases)
        await put(CaseDivision, ("case_id", "division_id", "role"), case_links)
        done += len(cases)
        if done % 100_000 < BATCH:
            elapsed = time.perf_counter() - started
            print(f"  ... {done:,} cases, {elapsed:.0f} s", flush=True)
    t0 = time.perf_counter()
    counters = gen.counter_rows()
    items, reports = gen.plan_rows()
    spent += time.perf_counter() - t0
    await put(CaseCounter, ("org_id", "be_year", "last_seq"), counters)
    for i in range(0, len(items), BATCH):
        await put(PlanItem, PLAN_COLUMNS, items[i : i + BATCH])
    for i in range(0, len(reports), BATCH):
        await put(ProgressReport, REPORT_COLUMNS, reports[i : i + BATCH])
    for sink in sinks:
        await sink.finish()
    print(f"  {done:,} cases, {len(items):,} plan items, {len(reports):,} progress reports loaded\n")
    return spent


# --- the timed operations ------------------------------------------------------------------


def make_turn(services: Services, session: Any, incoming: Incoming) -> Turn:
    # a conversation that is not added to the session: nothing is written
    convo = Conversation(channel=incoming.channel, chat_key="bench", step="idle", lang="th")
    return Turn(services, session, incoming, convo, {}, services.clock(), STEPS)


@dataclass
class Op:
    name: str
    samples: list[Any]
    run: Callable[[Any], Awaitable[tuple[int, int]]]  # -> (rows the answer covers, rows expected)
    parts: dict[str, list[float]] = field(default_factory=dict)  # seconds of its steps, per sample


def operations(services: Services, truth: Truth, rng: random.Random, samples: int, warmup: int) -> list[Op]:
    """The four operations, each with `warmup` untimed samples first, then `samples` timed ones."""
    directory = services.directory

    async def status(reporter: int) -> tuple[int, int]:
        channel, user = truth.reporters[reporter]
        inc = Incoming(channel=channel, chat_id=user, user_id=user, text="/status", language_code="th")
        async with services.db.session() as session:
            turn = make_turn(services, session, inc)
            await show_my_cases(turn)
        answer = turn.replies[0].text
        shown = 0 if answer == turn.text("status.none") else answer.count("\n")
        return shown, min(10, truth.reporter_cases[reporter])

    async def cases(chat: tuple[int, str, str]) -> tuple[int, int]:
        division_id, chat_id, user = chat
        inc = Incoming(channel="telegram", chat_id=chat_id, user_id=user, chat_type="group", text="/cases")
        async with services.db.session() as session:
            turn = make_turn(services, session, inc)
            await case_views.list_cases(turn)
        expected = truth.open_by_division[division_id]
        first = turn.replies[0].text.splitlines()[0]
        shown = expected if first == turn.text("staff.open_cases", count=expected) else -1
        if expected == 0 and first == turn.text("staff.no_open_cases"):
            shown = 0
        return shown, expected

    async def summary(sample: tuple[str, int, str]) -> tuple[int, int]:
        org_code, fy, name = sample
        org = services.orgs[org_code]
        async with services.db.session() as session:
            codes = {v: k[1] for k, v in directory.division_ids.items() if k[0] == org.code}
            result = await build_summary(
                session, org, directory.org_ids[org.code], codes, fy, name, services.clock()
            )
        summary_text(result, org, "th")
        return result.items, truth.items_by_org_year[(org_code, fy)]

    async def yearly(sample: tuple[str, int]) -> tuple[int, int]:
        org_code, fy = sample
        org = services.orgs[org_code]
        first, last = round_period(fy, "12m")
        start, end = local_day_bounds(first, last, org.tz())
        t0 = time.perf_counter()
        async with services.db.session() as session:
            result = await summarise(session, org, org_id=directory.org_ids[org.code], start=start, end=end)
        t1 = time.perf_counter()
        summary_table(result, org, "th")
        steps = ops[3].parts
        steps.setdefault("summarise (the database counts)", []).append(t1 - t0)
        steps.setdefault("summary_table", []).append(time.perf_counter() - t1)
        # a wrong count by division makes the whole answer wrong
        right = result.by_division == truth.divisions_by_org_year[sample]
        return result.total if right else -1, truth.by_org_year[(org_code, fy)]

    codes = [o.code for o in services.orgs.all]
    years = truth.fiscal_years
    reporters = list(truth.reporters)
    draws = range(samples + warmup)
    ops = [
        Op(OPS[0], [rng.choice(reporters) for _ in draws], status),
        Op(OPS[1], [rng.choice(truth.staff_chats) for _ in draws], cases),
        Op(OPS[2], [(rng.choice(codes), rng.choice(years), rng.choice(ROUNDS)) for _ in draws], summary),
        Op(OPS[3], [(rng.choice(codes), rng.choice(years)) for _ in draws], yearly),
    ]
    return ops


@dataclass
class Result:
    database: str
    op: str
    seconds: list[float]
    sizes: list[int]
    wrong: int
    parts: dict[str, list[float]]


class Collections:
    """Seconds Python's garbage collector has run, to tell its pauses apart inside a sample."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._on)

    def _on(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


COLLECTIONS = Collections()
GC_PART = "garbage collection within the sample"


async def time_ops(database: str, ops: list[Op], warmup: int) -> list[Result]:
    results = []
    for op in ops:
        for sample in op.samples[:warmup]:
            await op.run(sample)
        op.parts.clear()
        seconds, sizes, wrong = [], [], 0
        for sample in op.samples[warmup:]:
            gc_before = COLLECTIONS.seconds
            t0 = time.perf_counter()
            shown, expected = await op.run(sample)
            seconds.append(time.perf_counter() - t0)
            op.parts.setdefault(GC_PART, []).append(COLLECTIONS.seconds - gc_before)
            sizes.append(expected)
            wrong += shown != expected
        results.append(Result(database, op.name, seconds, sizes, wrong, dict(op.parts)))
        print(
            f"  {database} {op.name}: p50 {bl.ms(bl.percentile(seconds, 50))} ms, "
            f"p99 {bl.ms(bl.percentile(seconds, 99))} ms",
            flush=True,
        )
    return results


class Capture:
    """The SELECTs one sample runs, to show their plans (`--explain`)."""

    def __init__(self, db: Database) -> None:
        self.on = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._hook)

    def _hook(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on and statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, parameters))


def shorten(statement: str, width: int) -> str:
    """One line, without the selected columns and the long lists of an IN (...)."""
    line = re.sub(r"^SELECT .*? FROM ", "SELECT ... FROM ", " ".join(statement.split()))
    line = re.sub(r"((\$\d+::INTEGER|\?|\d+), ){3,}", "..., ", line)
    return line if len(line) <= width else line[: width - 4] + " ..."


async def explain(db: Database, ops: list[Op], heaviest: dict[str, Any]) -> None:
    capture = Capture(db)
    for op in ops:
        capture.statements, capture.on = [], True
        await op.run(heaviest[op.name])
        capture.on = False
        print(f"-- {op.name}, sample {heaviest[op.name]!r}:")
        async with db.engine.connect() as conn:
            for statement, params in capture.statements:
                print(f"   {shorten(statement, 400)}")
                if db.dialect == "sqlite":
                    query = "EXPLAIN QUERY PLAN " + statement
                    plan = [str(r[-1]) for r in (await conn.exec_driver_sql(query, params)).all()]
                else:
                    query = "EXPLAIN (ANALYZE, COSTS OFF) " + statement
                    plan = [str(r[0]) for r in (await conn.exec_driver_sql(query, params)).all()]
                for line in plan:
                    print(f"      {line if len(line) <= 200 else line[:196] + ' ...'}")
        print()


# --- main ----------------------------------------------------------------------------------


async def database_targets(
    tmp: Path, file_name: str, *, sqlite: bool, postgres: bool
) -> tuple[list[tuple[str, str]], str | None]:
    """(name, URL) of each database to measure, and the PostgreSQL one to drop at the end: a SQLite
    file in `tmp`, a fresh PostgreSQL database (skipped, saying why, when the server is unreachable)."""
    targets: list[tuple[str, str]] = []
    if sqlite:
        targets.append(("SQLite", f"sqlite+aiosqlite:///{tmp / file_name}"))
    pg_url = None
    if postgres:
        pg_url, problem = await bl.create_postgres_database()
        if pg_url is None:
            print(f"PostgreSQL skipped: {bl.POSTGRES_URL} unreachable ({problem})\n")
        else:
            targets.append(("PostgreSQL", pg_url))
    return targets, pg_url


async def prepare(url: str, revision: str, orgs: Organisations) -> tuple[Database, org_repo.Directory]:
    await asyncio.to_thread(upgrade_database, url, revision)
    db = Database(url)
    async with db.session() as session:
        directory = await org_repo.sync_organisations(session, orgs)
        await session.commit()
    return db, directory


def heaviest_samples(truth: Truth) -> dict[str, Any]:
    """The sample with the most rows, per operation (for the plans)."""
    biggest_division = max(truth.open_by_division, key=truth.open_by_division.__getitem__)
    org_year = max(truth.by_org_year, key=truth.by_org_year.__getitem__)
    reporter = max(truth.reporters, key=lambda r: truth.reporter_cases[r])
    items = max(truth.items_by_org_year, key=truth.items_by_org_year.__getitem__)
    return {
        OPS[0]: reporter,
        OPS[1]: next(c for c in truth.staff_chats if c[0] == biggest_division),
        OPS[2]: (items[0], items[1], "12m"),
        OPS[3]: org_year,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 cases and 100 samples")
    parser.add_argument("--cases", type=int, help="cases to load (default 1,000,000; --quick 100,000)")
    parser.add_argument("--samples", type=int, help="timed samples per operation (default 200; --quick 100)")
    parser.add_argument("--revision", default="head", help="migrate only to this revision (e.g. 0004: before "
                        "the indexes of 0005)")  # fmt: skip
    parser.add_argument(
        "--explain", action="store_true", help="print the query plans of the heaviest samples"
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    n_cases = args.cases or (100_000 if args.quick else 1_000_000)
    samples = args.samples or (100 if args.quick else 200)
    warmup = max(5, samples // 10)
    logging.basicConfig(level=logging.WARNING)
    bl.header("Records at scale: /status, /cases, round summary, yearly statistics", GOAL)
    print(
        f"{n_cases:,} cases over {YEARS} years in {ORGS} organisations; {samples} timed samples per "
        f"operation after {warmup} untimed; schema at revision {args.revision}\n"
    )
    rng = random.Random(SEED)
    orgs = build_orgs(ORGS, rng)
    vault = Vault(Fernet.generate_key().decode())
    now = datetime.now(UTC).replace(microsecond=0)

    results: list[Result] = []
    loads: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-records-") as tmp:
        targets, pg_url = await database_targets(
            Path(tmp), "bench.sqlite3", sqlite=not args.no_sqlite, postgres=not args.no_postgres
        )
        try:
            prepared = [(name, *await prepare(url, args.revision, orgs)) for name, url in targets]
            if not prepared:
                print("nothing to measure")
                return
            directory = prepared[0][2]
            assert all(d == directory for _, _, d in prepared), "organisation ids differ between databases"
            gen = Generator(cases=n_cases, orgs=orgs, directory=directory, vault=vault, now=now,
                            status_samples=samples)  # fmt: skip
            sinks: list[Sink] = [
                SqliteSink(db) if name == "SQLite" else PostgresSink(url)
                for (name, db, _), (_, url) in zip(prepared, targets, strict=True)
            ]
            print("loading (generation and every database in turn, batch by batch):")
            generating = await load(gen, sinks)
            loads = [("generating the rows", generating)] + [
                (f"writing to {s.name}", s.seconds) for s in sinks
            ]
            if targets[0][0] == "SQLite":
                loads.append(("SQLite file size, MB", sqlite_mb(Path(tmp))))
            if pg_url is not None:
                async with prepared[-1][1].engine.connect() as conn:
                    size = (
                        await conn.execute(text("SELECT pg_database_size(current_database())"))
                    ).scalar_one()
                loads.append(("PostgreSQL database size, MB", size / 2**20))
            # as the bot does once it has started (bot.app.freeze_startup_objects): what is loaded by
            # then, here also the generator's records, stays out of every later full collection
            freeze_startup_objects()
            print(f"timing ({gc.get_freeze_count():,} objects frozen out of Python's collector):")
            for name, db, _ in prepared:
                services = Services(db=db, orgs=orgs, directory=directory, vault=vault, clock=lambda: now)
                ops = operations(services, gen.truth, random.Random(SEED + 1), samples, warmup)
                results += await time_ops(name, ops, warmup)
                if args.explain:
                    print()
                    await explain(db, ops, heaviest_samples(gen.truth))
            for _, db, _ in prepared:
                await db.dispose()
        finally:
            if pg_url is not None:
                await bl.drop_postgres_database(pg_url)
    print()
    bl.print_table(["what", "seconds / MB"], [[what, f"{value:,.1f}"] for what, value in loads])
    print()
    rows = []
    for r in results:
        rows.append([
            r.database, r.op, len(r.seconds), bl.ms(bl.percentile(r.seconds, 50)),
            bl.ms(bl.percentile(r.seconds, 99)), bl.ms(max(r.seconds)),
            f"{statistics_median(r.sizes)} / {max(r.sizes):,}",
            f"{r.wrong}" + ("  <-- CHECK" if r.wrong else ""),
        ])  # fmt: skip
    bl.print_table(
        ["database", "operation", "samples", "p50 ms", "p99 ms", "max ms", "rows p50 / max", "wrong"], rows
    )
    print(
        "\nrows: cases of the reporter shown (up to 10), open cases of the division, plan items in the "
        "round, cases in the fiscal year"
    )
    print()
    for r in results:
        for part, seconds in r.parts.items():
            print(
                f"{r.op} on {r.database}, of which {part}: p50 {bl.ms(bl.percentile(seconds, 50))} ms, "
                f"p99 {bl.ms(bl.percentile(seconds, 99))} ms, max {bl.ms(max(seconds))} ms"
            )
    print()
    for database in dict.fromkeys(r.database for r in results):
        goal = GOAL_MS[database]
        mine = [r for r in results if r.database == database]
        slow = [f"{r.op} {bl.percentile(r.seconds, 99) * 1000:.1f} ms" for r in mine
                if bl.percentile(r.seconds, 99) * 1000 >= goal]  # fmt: skip
        worst = max(mine, key=lambda r: bl.percentile(r.seconds, 99))
        detail = (
            ("over the goal: " + ", ".join(slow))
            if slow
            else (f"slowest p99: {worst.op} {bl.percentile(worst.seconds, 99) * 1000:.1f} ms")
        )
        bl.verdict(
            not slow and not any(r.wrong for r in mine), f"p99 under {goal:.0f} ms on {database}", detail
        )


def sqlite_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("bench.sqlite3*")) / 2**20


def statistics_median(values: list[int]) -> str:
    return f"{sorted(values)[len(values) // 2]:,}"


if __name__ == "__main__":
    asyncio.run(main())
