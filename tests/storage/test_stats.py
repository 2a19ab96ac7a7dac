"""The complaint statistics counted by the database agree with the same counts over exported rows."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from statistics import median

from handlers.cases.stats import CaseRow, Summary, case_rows, summarise
from kernel.fiscal import local_day_bounds, round_period
from kernel.org_files import Organisations
from storage import cases as case_repo
from storage import organisations as org_repo
from storage.db import Database
from storage.models import Case, CaseDivision


def _expected(rows: list[CaseRow], tz: object) -> Summary:
    """The plain reading of the summary: one pass over the period's cases as exported."""
    s = Summary(total=len(rows))
    for r in rows:
        s.by_type[r.report_type] += 1
        s.by_category[(r.report_type, r.category)] += 1
        for code in r.divisions or ("coordinators",):
            s.by_division[code] += 1
        local = r.received.astimezone(tz)  # type: ignore[arg-type]
        s.by_month[(local.year, local.month)] += 1
        s.by_outcome[r.status] += 1
    acks = [d for r in rows if (d := r.days_to_acknowledge) is not None]
    closes = [d for r in rows if (d := r.days_to_close) is not None]
    s.median_days_to_acknowledge = round(median(acks), 2) if acks else None
    s.median_days_to_close = round(median(closes), 2) if closes else None
    return s


async def test_counts_months_divisions_and_medians_match_the_rows(
    database: Database, orgs: Organisations
) -> None:
    org = orgs.single
    assert org is not None
    tz = org.tz()
    rnd = random.Random(2569)
    async with database.session() as session:
        directory = await org_repo.sync_organisations(session, orgs)
        await session.commit()
    org_id = directory.org_ids[org.code]
    divisions = [directory.division_ids[(org.code, d.code)] for d in org.divisions]
    first, last = round_period(2569, "12m")
    start, end = local_day_bounds(first, last, tz)
    # around the period's edges and the local midnight that starts each month (17:00 UTC)
    moments = [start - timedelta(seconds=1), start, end - timedelta(microseconds=1), end]
    for _ in range(300):
        moments.append(start + timedelta(seconds=rnd.randrange(int((end - start).total_seconds()))))
    for month in range(12):
        edge = datetime(2025 + (month + 9) // 12, (month + 9) % 12 + 1, 1, tzinfo=tz).astimezone(UTC)
        moments += [edge - timedelta(microseconds=1), edge]
    async with database.session() as session:
        for n, created in enumerate(moments, start=1):
            ack = created + timedelta(hours=rnd.uniform(0.1, 80)) if rnd.random() < 0.8 else None
            closed = ack + timedelta(days=rnd.uniform(0, 40)) if ack and rnd.random() < 0.6 else None
            report_type = rnd.choice(["grievance", "corruption", "information"])
            case = Case(
                org_id=org_id, reference=f"T-{n}", be_year=2569, seq=n, report_type=report_type,
                concerns_personnel="no", category=rnd.choice(["roads", "water", "bribery", "other"]),
                status="closed" if closed else rnd.choice(["received", "accepted", "investigating"]),
                anonymous=rnd.random() < 0.5, details_enc="x", reporter_enc="x", reporter_channel="test",
                reporter_key=f"k{n % 40}", tracking_hash="x", created_at=created, ack_due_at=created,
                reply_due_at=created, update_due_at=created, acknowledged_at=ack, closed_at=closed,
            )  # fmt: skip
            session.add(case)
            await session.flush()
            assert case.id is not None
            primaries = rnd.sample(divisions, rnd.choice([0, 1, 1, 1, 2]))
            for division_id in primaries:
                session.add(CaseDivision(case_id=case.id, division_id=division_id, role="primary"))
            for division_id in set(rnd.sample(divisions, 1)) - set(primaries):
                session.add(CaseDivision(case_id=case.id, division_id=division_id, role="informed"))
            await case_repo.sync_primary_divisions(session, case)  # as the bot keeps the statistics' copy
        await session.commit()

    async with database.session() as session:
        rows = await case_rows(session, org_id=org_id, start=start, end=end)
        got = await summarise(session, org, org_id=org_id, start=start, end=end)
        empty = await summarise(
            session, org, org_id=org_id, start=end + timedelta(days=400), end=end + timedelta(days=500)
        )
    assert len(rows) == sum(start <= m < end for m in moments) == len(moments) - 3  # 3 just outside
    assert got == _expected(rows, tz)
    assert len(got.by_month) == 12 and got.by_division["coordinators"] > 0
    assert empty == Summary() and empty.by_month == Counter()

    # one more acknowledged and closed case: each median now over a count of the other parity
    async with database.session() as session:
        created = start + timedelta(days=100)
        session.add(
            Case(
                org_id=org_id,
                reference="T-last",
                be_year=2569,
                seq=len(moments) + 1,
                report_type="grievance",
                concerns_personnel="no",
                category="roads",
                status="closed",
                anonymous=True,
                details_enc="x",
                reporter_enc="x",
                reporter_channel="test",
                reporter_key="k-last",
                tracking_hash="x",
                created_at=created,
                ack_due_at=created,
                reply_due_at=created,
                update_due_at=created,
                acknowledged_at=created + timedelta(hours=7),
                closed_at=created + timedelta(days=9),
            )
        )
        await session.commit()
    async with database.session() as session:
        rows = await case_rows(session, org_id=org_id, start=start, end=end)
        again = await summarise(session, org, org_id=org_id, start=start, end=end)
    assert again == _expected(rows, tz) and again.total == got.total + 1
