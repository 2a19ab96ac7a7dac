"""The audit chain on both databases: appends under concurrency, and tampering is detected."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text

from handlers.cases.submit import ReporterInfo, submit_report
from kernel.draft import Draft
from storage.audit import append_event, verify_chain
from storage.db import Database
from tests.conftest import make_services
from tests.support.rows import raw_case_row

DRAFT = Draft(type="grievance", concerns="no", category="roads", description="ถนนพังเสียหายหนัก")


async def _cases(database: Database, orgs, vault, clock, n: int) -> None:  # type: ignore[no-untyped-def]
    services = await make_services(database, orgs, vault, clock)

    async def one(i: int) -> None:
        async with database.session() as s:
            reporter = ReporterInfo(channel="test", chat_id=str(i), user_id=str(i), lang="th")
            await submit_report(s, services, org=orgs.single, draft=DRAFT, reporter=reporter, now=clock())
            await s.commit()

    await asyncio.gather(*(one(i) for i in range(n)))


async def test_concurrent_appends_form_one_unbroken_chain(database: Database, orgs, vault, clock) -> None:  # type: ignore[no-untyped-def]
    await _cases(database, orgs, vault, clock, 12)
    async with database.session() as s:
        report = await verify_chain(s, vault)
    assert report.ok and report.length == 12


async def test_changing_a_row_is_detected_at_that_row(database: Database, orgs, vault, clock) -> None:  # type: ignore[no-untyped-def]
    await _cases(database, orgs, vault, clock, 5)
    async with database.engine.begin() as conn:
        await conn.execute(text("UPDATE case_events SET public_note = 'hidden' WHERE seq = 3"))
    async with database.session() as s:
        report = await verify_chain(s, vault)
    assert not report.ok and report.broken_at == 3 and "changed" in (report.problem or "")


async def test_deleting_a_row_or_the_last_row_is_detected(database: Database, orgs, vault, clock) -> None:  # type: ignore[no-untyped-def]
    await _cases(database, orgs, vault, clock, 4)
    async with database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM case_events WHERE seq = 4"))
    async with database.session() as s:
        report = await verify_chain(s, vault)
    assert not report.ok and "removed at the end" in (report.problem or "")
    async with database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM case_events WHERE seq = 2"))
    async with database.session() as s:
        report = await verify_chain(s, vault)
    assert not report.ok and report.broken_at == 2


async def test_recomputed_forgery_is_caught_by_the_next_link(database: Database, orgs, vault, clock) -> None:  # type: ignore[no-untyped-def]
    """Rewriting a row *and* its own hash still breaks the link from the following row."""
    from storage.audit import event_hash
    from storage.models import CaseEvent

    await _cases(database, orgs, vault, clock, 3)
    async with database.session() as s:
        event = (await s.execute(text("SELECT id FROM case_events WHERE seq = 2"))).scalar_one()
        row = await s.get(CaseEvent, event)
        assert row is not None and row.prev_hash is not None
        row.public_note = "rewritten"
        row.hash = event_hash(row.prev_hash, row, vault.chain_key)  # even with the key
        await s.commit()
    async with database.session() as s:
        report = await verify_chain(s, vault)
    assert not report.ok and report.broken_at == 3


async def test_event_data_is_part_of_the_hash(sqlite_database: Database, orgs, vault, clock) -> None:  # type: ignore[no-untyped-def]
    await _cases(sqlite_database, orgs, vault, clock, 1)
    async with sqlite_database.session() as s:
        await append_event(
            s, vault, case_id=1, org_id=1, kind="transfer", actor="staff:1", status="received",
            at=datetime(2026, 1, 1, tzinfo=UTC), data={"to": "legal"},
        )  # fmt: skip
        await s.commit()
        assert (await verify_chain(s, vault)).ok
    async with sqlite_database.engine.begin() as conn:
        await conn.execute(text("""UPDATE case_events SET data_json = '{"to": "office"}' WHERE seq = 2"""))
    async with sqlite_database.session() as s:
        assert (await verify_chain(s, vault)).broken_at == 2


async def test_upgrade_chains_events_written_before_the_chain_existed(db_url: str, vault) -> None:  # type: ignore[no-untyped-def]
    from storage.db import upgrade_database

    await asyncio.to_thread(upgrade_database, db_url, "0001")
    db = Database(db_url)
    at = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO organisations (code, name_th, name_en, created_at) "
                    "VALUES ('CM', 'x', 'x', :at)"
                ),
                {"at": at},
            )
            values = raw_case_row(at)
            for n in (1, 2):
                row = {**values, "reference": f"CM-2569-00000{n}", "seq": n}
                await conn.execute(
                    text(f"INSERT INTO cases ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"),
                    row,
                )
                await conn.execute(
                    text(
                        "INSERT INTO case_events (case_id, org_id, kind, actor, status, at) "
                        "VALUES (:c, 1, 'received', 'reporter', 'received', :at)"
                    ),
                    {"c": n, "at": at},
                )
    finally:
        await db.dispose()
    await asyncio.to_thread(upgrade_database, db_url)
    db = Database(db_url)
    try:
        async with db.session() as s:
            report = await verify_chain(s, vault)
        assert report.ok and report.length == 2
    finally:
        await db.dispose()


async def test_appends_from_another_process_and_a_rolled_back_one_keep_one_chain(
    database: Database, orgs, vault, clock
) -> None:  # type: ignore[no-untyped-def]
    await _cases(database, orgs, vault, clock, 1)
    async with database.session() as s:
        case_id, org_id = (await s.execute(text("SELECT id, org_id FROM cases"))).one()
    other = Database(database.url)  # another process's engine: it remembers its own last head

    async def append(db: Database, *, commit: bool = True) -> None:
        async with db.session() as s:
            actor = "this process" if db is database else "another process"  # events that differ
            await append_event(
                s,
                vault,
                case_id=case_id,
                org_id=org_id,
                kind="note",
                actor=actor,
                status="received",
                at=clock(),
            )
            if commit:
                await s.commit()

    try:
        for db in (database, other, database, other):
            await append(db)  # each finds the head moved by the other since its last append
        await append(database, commit=False)  # rolled back: the head it remembers never was
        await append(other)  # the same length as that head, another last hash
        await append(database)
    finally:
        await other.dispose()
    async with database.session() as s:
        report = await verify_chain(s, vault)
    assert report.ok and report.length == 1 + 6


async def test_notes_kept_in_clear_by_an_older_version_are_sealed_once_and_the_chain_holds(
    db_url: str, vault
) -> None:  # type: ignore[no-untyped-def]
    """Issue 17, point 1: the history's existing rows are converted: each note sealed under its
    case's key, the chain hashed again, nothing readable in the table afterwards."""
    from storage.audit import GENESIS, case_history, convert_history, event_hash
    from storage.db import upgrade_database

    await asyncio.to_thread(upgrade_database, db_url, "0012")
    at = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
    notes = [(None, None), ("ZSENTREPLY โทร 0812345678", None), (None, "ZSENTNOTE ภายใน")]
    db = Database(db_url)
    try:
        async with db.engine.begin() as conn:
            org = (
                "INSERT INTO organisations (id, code, name_th, name_en, created_at) "
                "VALUES (1, 'CM', 'x', 'x', :t)"
            )
            await conn.execute(text(org), {"t": at})
            case = {**raw_case_row(at), "id": 1, "reference": "CM-1", "seq": 1}
            await conn.execute(
                text(f"INSERT INTO cases ({', '.join(case)}) VALUES ({', '.join(':' + k for k in case)})"),
                case,
            )
            prev = GENESIS
            for seq, (public, internal) in enumerate(notes, start=1):
                event = {
                    "seq": seq, "case_id": 1, "org_id": 1, "kind": "received", "actor": "reporter",
                    "status": "received", "public_note": public, "internal_note": internal,
                    "data_json": None, "at": at,
                }  # fmt: skip
                event |= {"prev_hash": prev, "hash": event_hash(prev, event)}
                prev = event["hash"]
                names = ", ".join(event)
                await conn.execute(
                    text(f"INSERT INTO case_events ({names}) VALUES ({', '.join(':' + k for k in event)})"),
                    event,
                )
            await conn.execute(text("UPDATE audit_head SET length = 3, last_hash = :h"), {"h": prev})
    finally:
        await db.dispose()
    await asyncio.to_thread(upgrade_database, db_url)
    db = Database(db_url)
    try:
        async with db.session(write=True) as s:
            assert await convert_history(s, vault) == 2
            await s.commit()
        async with db.session(write=True) as s:
            assert await convert_history(s, vault) == 0  # once only
            assert (await verify_chain(s, vault)).ok
            stored = (await s.execute(text("SELECT public_note, internal_note FROM case_events"))).all()
            assert "ZSENT" not in repr(stored) and "ck1:" in repr(stored)
            history = await case_history(s, vault, 1)
            assert [(e.public_note, e.internal_note) for e in history] == notes
    finally:
        await db.dispose()
