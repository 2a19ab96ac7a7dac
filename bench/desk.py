"""The web desk at scale: the inbox's first page, a filtered page, a search of all cases and a case
page over 1,000,000 cases, each rendered by the real desk over HTTP.

The deployment is records_scale.py's (50 organisations, ten years, ~14,000 open cases; the
Chiang Mai PAO has ~78,000 cases), loaded the same way into SQLite and PostgreSQL. Then
`damrongtham serve`'s web application runs in this process on a local port, and an HTTP client
signed in by a real one-time link asks for pages, one at a time, after a warm-up:

* the inbox, first page, for the PAO's coordinator (every open case of the organisation) and for
  the clerk of the division with the most open cases;
* a filtered inbox page (state and deadline band) for the coordinator;
* a search of every case (a received-date range of one fiscal year: SQL paging over closed cases
  too) for the coordinator;
* a case page (card, history, actions) of a random PAO case, opened by the coordinator.

The time is the client's: request to last byte, so it includes the rendering, the session check
and the local round trip. Goal: p95 under 150 ms for each, on SQLite and PostgreSQL.

    .venv/bin/python bench/desk.py [--quick] [--cases N] [--samples N] [--no-sqlite] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import random
import re
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import benchlib as bl
import records_scale as rs
from aiohttp import ClientSession, CookieJar, web
from cryptography.fernet import Fernet
from sqlalchemy import text

from bot.inbox import Inbox
from bot.web import build_web_app
from handlers.cases.desk_sessions import desk_link
from handlers.cases.search import terms
from handlers.core.work import Services, StaffAccount, Work
from kernel.fiscal import fiscal_year_of
from storage.crypto import Vault
from storage.db import Database
from storage.models import CaseTerm
from storage.staff import add_staff

GOAL_MS = 150.0
GOAL = "p95 under 150 ms for the inbox, a filtered page, a search and a case page, on SQLite and PostgreSQL"
PAGES = (
    "inbox, coordinator", "inbox, clerk", "filtered", "search, a fiscal year", "words, a common one",
    "words, two rarer ones", "case page",
)  # fmt: skip
VOCABULARY = 20_000  # words a complaint centre's cases use, drawn by Zipf's law
WORDS_PER_CASE = 30


def word(rank: int) -> str:
    """A made-up word of letters only (the tokenizer cuts letters from digits)."""
    letters = ""
    while rank:
        rank, digit = divmod(rank, 26)
        letters += "abcdefghijklmnopqrstuvwxyz"[digit]
    return "zq" + letters


async def load_words(sinks: list[rs.Sink], db: Database, vault: Vault, org_id: int) -> int:
    """The word index of the PAO's cases: 30 distinct words each, Zipf-distributed, as the index
    keeps them (`handlers.cases.search.terms`). records_scale loads no text to cut into words."""
    rng = random.Random(rs.SEED + 11)
    term_of = [""] + [next(iter(terms(vault, word(r)))) for r in range(1, VOCABULARY + 1)]
    weights = list(itertools.accumulate(1 / r for r in range(1, VOCABULARY + 1)))
    async with db.engine.connect() as conn:
        ids = [
            r[0] for r in await conn.execute(text("SELECT id FROM cases WHERE org_id = :o"), {"o": org_id})
        ]
    rows: list[tuple[int, str, int]] = []
    for case_id in ids:
        drawn = set(rng.choices(range(1, VOCABULARY + 1), cum_weights=weights, k=WORDS_PER_CASE))
        rows += [(case_id, term_of[r], org_id) for r in drawn]
    table = CaseTerm.__table__  # type: ignore[attr-defined]
    for i in range(0, len(rows), rs.BATCH * 10):
        for sink in sinks:
            await sink.write(table, ("case_id", "term", "org_id"), rows[i : i + rs.BATCH * 10])
    for sink in sinks:
        await sink.finish()
    return len(rows)


async def _signed_in(services: Services, base: str, http: ClientSession, user_id: str) -> None:
    """A real sign-in: the link `/desk` gives, posted as the button does (the cookie is kept)."""
    async with services.db.session(write=True) as session:
        token = await desk_link(
            Work(session, services, datetime.now(UTC)), by=StaffAccount("telegram", user_id)
        )
        await session.commit()
    async with http.post(f"{base}/desk/login/{token}", allow_redirects=False) as answer:
        assert answer.status == 303, answer.status


async def _coordinator(db: Database, services: Services, org_code: str) -> str:
    user_id = "9000000001"
    async with db.session() as session:
        await add_staff(
            session, org_id=services.directory.org_ids[org_code], channel="telegram", user_id=user_id,
            role="coordinator", division_id=None, display_name="ผู้ประสานงาน",
        )  # fmt: skip
        await session.commit()
    return user_id


async def _references(db: Database, org_id: int, count: int, rng: random.Random) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT reference FROM cases WHERE org_id = :o"), {"o": org_id})
        every = [r[0] for r in rows]
    return rng.sample(every, min(count, len(every)))


async def time_pages(
    name: str, db: Database, services: Services, gen: rs.Generator, samples: int, warmup: int
) -> list[tuple[str, str, list[float], int]]:
    org = services.orgs.all[0]  # the PAO, the largest organisation
    org_id = services.directory.org_ids[org.code]
    coordinator = await _coordinator(db, services, org.code)
    own = {services.directory.division_ids[(org.code, d.code)] for d in org.divisions}
    # the clerk of the PAO's division with the most open cases
    busiest = max(
        (c for c in gen.truth.staff_chats if c[0] in own), key=lambda c: gen.truth.open_by_division[c[0]]
    )
    rng = random.Random(rs.SEED + 7)
    references = await _references(db, org_id, samples + warmup, rng)
    year = fiscal_year_of(datetime.now(UTC).date()) - 1
    first, last = f"{year - 544}-10-01", f"{year - 543}-09-30"

    app = build_web_app(services, Inbox(db, services.vault))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    results: list[tuple[str, str, list[float], int]] = []
    try:
        # cookies from an address like 127.0.0.1 are kept only by an "unsafe" jar
        jar = lambda: CookieJar(unsafe=True)  # noqa: E731
        async with (
            ClientSession(cookie_jar=jar()) as as_coordinator,
            ClientSession(cookie_jar=jar()) as as_clerk,
        ):
            await _signed_in(services, base, as_coordinator, coordinator)
            await _signed_in(services, base, as_clerk, busiest[2])
            pages: dict[str, tuple[ClientSession, Callable[[int], str]]] = {
                PAGES[0]: (as_coordinator, lambda i: "/desk/"),
                PAGES[1]: (as_clerk, lambda i: "/desk/"),
                PAGES[2]: (as_coordinator, lambda i: "/desk/?status=accepted&due=overdue"),
                PAGES[3]: (
                    as_coordinator,
                    lambda i: f"/desk/?received_from={first}&received_to={last}&page={1 + i % 5}",
                ),
                PAGES[4]: (as_coordinator, lambda i: f"/desk/?q={word(5 + i % 20)}"),
                PAGES[5]: (as_coordinator, lambda i: f"/desk/?q={word(40 + i % 50)}+{word(200 + i)}"),
                PAGES[6]: (as_coordinator, lambda i: f"/desk/case/{references[i]}"),
            }
            for page, (http, path) in pages.items():
                seconds: list[float] = []
                shown = 0
                for i in range(samples + warmup):
                    started = time.perf_counter()
                    async with http.get(base + path(i), allow_redirects=False) as answer:
                        body = await answer.text()
                    spent = time.perf_counter() - started
                    assert answer.status == 200, (page, answer.status, body[:200])
                    if i >= warmup:
                        seconds.append(spent)
                        shown = max(shown, len(re.findall(r'href="/desk/case/', body)))
                results.append((name, page, seconds, shown))
                print(f"  {name}: {page} done", flush=True)
    finally:
        await runner.cleanup()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 cases and 50 samples")
    parser.add_argument("--cases", type=int, help="cases to load (default 1,000,000; --quick 100,000)")
    parser.add_argument("--samples", type=int, help="timed requests per page (default 200; --quick 50)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    n_cases = args.cases or (100_000 if args.quick else 1_000_000)
    samples = args.samples or (50 if args.quick else 200)
    warmup = max(5, samples // 10)
    logging.basicConfig(level=logging.WARNING)
    bl.header("The web desk at scale: inbox, filtered page, search, case page", GOAL)
    print(f"{n_cases:,} cases (records_scale's deployment); {samples} timed requests per page\n")
    orgs = rs.build_orgs(rs.ORGS, random.Random(rs.SEED))
    vault = Vault(Fernet.generate_key().decode())
    now = datetime.now(UTC).replace(microsecond=0)
    results: list[tuple[str, str, list[float], int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-desk-") as tmp:
        targets, pg_url = await rs.database_targets(
            Path(tmp), "desk.sqlite3", sqlite=not args.no_sqlite, postgres=not args.no_postgres
        )
        try:
            prepared = [(name, *await rs.prepare(url, "head", orgs)) for name, url in targets]
            if not prepared:
                print("nothing to measure")
                return
            directory = prepared[0][2]
            gen = rs.Generator(cases=n_cases, orgs=orgs, directory=directory, vault=vault, now=now,
                               status_samples=10)  # fmt: skip
            sinks: list[rs.Sink] = [
                rs.SqliteSink(db) if name == "SQLite" else rs.PostgresSink(url)
                for (name, db, _), (_, url) in zip(prepared, targets, strict=True)
            ]
            print("loading:")
            await rs.load(gen, sinks)
            pao = directory.org_ids[orgs.all[0].code]
            again: list[rs.Sink] = [
                rs.SqliteSink(db) if name == "SQLite" else rs.PostgresSink(url)
                for (name, db, _), (_, url) in zip(prepared, targets, strict=True)
            ]
            indexed = await load_words(again, prepared[0][1], vault, pao)
            print(f"  {indexed:,} word-index rows for the PAO's cases\n")
            print("timing:")
            for name, db, _ in prepared:
                services = Services(db=db, orgs=orgs, directory=directory, vault=vault)
                results += await time_pages(name, db, services, gen, samples, warmup)
            for _, db, _ in prepared:
                await db.dispose()
        finally:
            if pg_url is not None:
                await bl.drop_postgres_database(pg_url)
    print()
    rows = [
        [
            database,
            page,
            len(s),
            bl.ms(bl.percentile(s, 50)),
            bl.ms(bl.percentile(s, 95)),
            bl.ms(max(s)),
            shown,
        ]
        for database, page, s, shown in results
    ]
    bl.print_table(["database", "page", "samples", "p50 ms", "p95 ms", "max ms", "cases linked"], rows)
    print()
    slow = [f"{d} {p}" for d, p, s, _ in results if bl.percentile(s, 95) * 1000 >= GOAL_MS]
    bl.verdict(not slow and bool(results), GOAL, ", ".join(slow) or "every page within the goal")


if __name__ == "__main__":
    asyncio.run(main())
