"""Storage on both databases: migrations, pragmas, numbering under concurrency, encryption at rest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlmodel import SQLModel

from handlers.cases.submit import ReporterInfo, submit_report
from kernel.draft import Draft
from storage import cases as case_repo
from storage import chats as chat_repo
from storage import conversations as convo_repo
from storage.case_context import load_case_context
from storage.db import Database, downgrade_database, upgrade_database
from storage.evidence import open_name
from storage.models import PERIOD_INDEX_COLUMNS, Case, Conversation, OutboxMessage
from tests.conftest import make_services
from tests.support.rows import raw_case_row

TABLES = {
    "organisations", "divisions", "chat_bindings", "staff", "staff_divisions", "conversations",
    "processed_updates", "case_counters", "cases", "case_divisions", "case_events", "attachments",
    "outbox", "access_attempts",
}  # fmt: skip
ORG_OWNED = {"divisions", "chat_bindings", "staff", "cases", "case_events", "attachments", "case_counters"}


async def test_migrations_create_every_table_with_org_ids_and_match_the_models(db_url: str) -> None:
    await asyncio.to_thread(upgrade_database, db_url)
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            assert TABLES <= names
            for table in ORG_OWNED:
                columns = await conn.run_sync(
                    lambda c, t=table: {col["name"] for col in inspect(c).get_columns(t)}
                )
                assert "org_id" in columns, table

            def diff(sync_conn):  # type: ignore[no-untyped-def]
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": False})
                return compare_metadata(ctx, SQLModel.metadata)

            assert await conn.run_sync(diff) == []
    finally:
        await db.dispose()
    await asyncio.to_thread(downgrade_database, db_url, "base")
    await asyncio.to_thread(upgrade_database, db_url)


async def test_upgrade_copies_each_cases_primary_divisions_onto_its_row(db_url: str) -> None:
    await asyncio.to_thread(upgrade_database, db_url, "0006")
    at = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
    # case id -> its (division id, role) rows; ids 2 and 10 sort differently as text and as numbers
    links = {
        1: [],
        2: [(10, "primary"), (2, "informed")],
        3: [(10, "primary"), (2, "primary"), (3, "informed")],
        4: [(3, "informed")],
    }
    db = Database(db_url)
    try:
        async with db.engine.begin() as conn:

            async def insert(table: str, row: dict[str, object]) -> None:
                names = ", ".join(row)
                marks = ", ".join(":" + k for k in row)
                await conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), row)

            await insert(
                "organisations", {"id": 1, "code": "CM", "name_th": "x", "name_en": "x", "created_at": at}
            )
            for division_id in (2, 3, 10):
                division = {"id": division_id, "org_id": 1, "code": f"d{division_id}", "active": True}
                await insert("divisions", {**division, "name_th": "x", "name_en": "x"})
            values = raw_case_row(at)
            for case_id, rows in links.items():
                await insert("cases", {**values, "id": case_id, "reference": f"CM-{case_id}", "seq": case_id})
                for division_id, role in rows:
                    await insert(
                        "case_divisions", {"case_id": case_id, "division_id": division_id, "role": role}
                    )
    finally:
        await db.dispose()
    await asyncio.to_thread(upgrade_database, db_url)
    db = Database(db_url)
    try:
        async with db.session() as s:
            cases = {c.id: c for c in (await s.execute(select(Case))).scalars()}
            copied = {case_id: c.primary_division_ids for case_id, c in cases.items()}
            assert copied == {1: None, 2: "10", 3: "2,10", 4: None}
            for case in cases.values():  # the bot's helper spells them the same way
                await case_repo.sync_primary_divisions(s, case)
                assert case.primary_division_ids == copied[case.id]
    finally:
        await db.dispose()
    await asyncio.to_thread(downgrade_database, db_url, "0006")
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("cases")})
            indexes = await conn.run_sync(
                lambda c: {i["name"]: i["column_names"] for i in inspect(c).get_indexes("cases")}
            )
            assert "primary_division_ids" not in columns
            assert indexes["ix_cases_org_period"] == [
                c for c in PERIOD_INDEX_COLUMNS if c != "primary_division_ids"
            ]
    finally:
        await db.dispose()


async def test_sqlite_pragmas_are_set_on_every_connection(sqlite_database: Database) -> None:
    async with sqlite_database.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10000
        assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL


async def test_update_ids_are_claimed_once(database: Database) -> None:
    async with database.session() as s:
        assert await convo_repo.claim_update(s, "telegram", "42")
        assert not await convo_repo.claim_update(s, "telegram", "42")
        assert await convo_repo.claim_update(s, "line", "42")
        await s.commit()
    async with database.session() as s:
        assert not await convo_repo.claim_update(s, "telegram", "42")


async def test_concurrent_submissions_get_unique_references(database: Database, orgs, vault, clock) -> None:  # type: ignore[no-untyped-def]
    services = await make_services(database, orgs, vault, clock)
    org = orgs.single
    draft = Draft(type="grievance", concerns="no", category="roads", description="ถนนพังเสียหายหนัก")

    async def one(i: int) -> str:
        async with database.session() as s:
            reporter = ReporterInfo(channel="test", chat_id=str(9000 + i), user_id=str(9000 + i), lang="th")
            result = await submit_report(s, services, org=org, draft=draft, reporter=reporter, now=clock())
            await s.commit()
            return result.reference

    references = await asyncio.gather(*(one(i) for i in range(20)))
    assert sorted(references) == [f"CM-2569-{n:06d}" for n in range(1, 21)]


async def test_two_turns_acting_on_one_case_take_turns(database: Database, orgs, vault, clock) -> None:  # type: ignore[no-untyped-def]
    """Chats are handled side by side: a second turn acting on a case waits for the first's commit
    (the row lock on PostgreSQL, the single writer on SQLite), so it sees what the first changed."""
    services = await make_services(database, orgs, vault, clock)
    draft = Draft(type="grievance", concerns="no", category="roads", description="ถนนพังเสียหายหนัก")
    async with database.session() as s:
        reporter = ReporterInfo(channel="test", chat_id="9001", user_id="9001", lang="th")
        submitted = await submit_report(
            s, services, org=orgs.single, draft=draft, reporter=reporter, now=clock()
        )
        await s.commit()
        case_id = submitted.case_id

    async def turn(update_key: str, status: str, hold: asyncio.Event | None) -> str:
        async with database.session() as s:
            await convo_repo.claim_update(s, "test", update_key, now=clock())  # as the engine's turns begin
            ctx = await load_case_context(s, case_id)  # the case row-locked, as a use case loads it
            assert ctx is not None
            case = ctx.case
            seen = case.status
            case.status = status
            if hold is not None:
                await hold.wait()
            await s.commit()
            return seen

    release = asyncio.Event()
    first = asyncio.create_task(turn("1", "accepted", release))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(turn("2", "investigating", None))
    await asyncio.sleep(0.3)
    assert not second.done()  # waits for the first turn
    release.set()
    assert await first == "received"
    assert await second == "accepted"  # the first turn's change, not the row as it was


async def test_personal_data_is_encrypted_at_rest(database: Database, orgs, vault, clock) -> None:  # type: ignore[no-untyped-def]
    services = await make_services(database, orgs, vault, clock)
    sentinels = {"name": "SENTINEL-NAME-Kanya", "phone": "+66811112222", "contact": "sentinel@example.org"}
    draft = Draft(
        type="corruption", concerns="yes", category="bribery", anonymous=False,
        description="SENTINEL-DESCRIPTION bribe", people="SENTINEL-PEOPLE", **sentinels,
    )  # fmt: skip
    reporter = ReporterInfo(channel="test", chat_id="777000111", user_id="777000111", lang="th")
    async with database.session() as s:
        await submit_report(s, services, org=orgs.single, draft=draft, reporter=reporter, now=clock())
        await s.commit()
    async with database.engine.connect() as conn:
        dump = ""
        for table in ("cases", "outbox", "conversations", "attachments", "case_events"):
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).all()
            dump += repr(rows)
    for secret in [*sentinels.values(), "777000111", "SENTINEL-DESCRIPTION", "SENTINEL-PEOPLE"]:
        assert secret not in dump
    async with database.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        assert vault.decrypt(case.reporter_enc)["name"] == sentinels["name"]
        assert case.reporter_key == vault.lookup_key("test", "777000111")


async def test_binding_a_chat_releases_waiting_messages(database: Database, orgs, vault, clock) -> None:  # type: ignore[no-untyped-def]
    services = await make_services(database, orgs, vault, clock)
    draft = Draft(type="grievance", concerns="no", category="roads", description="ถนนพังเสียหายหนัก")
    async with database.session() as s:
        reporter = ReporterInfo(channel="test", chat_id="1", user_id="1", lang="th")
        await submit_report(s, services, org=orgs.single, draft=draft, reporter=reporter, now=clock())
        await s.commit()
    async with database.session() as s:
        waiting = (await s.execute(select(OutboxMessage.target, OutboxMessage.status))).all()
        assert ("division:office", "waiting_binding") in waiting and (
            "coordinators",
            "waiting_binding",
        ) in waiting
        org_id = services.directory.org_ids["CM"]
        released = await chat_repo.bind_chat(
            s, org_id=org_id, target="division:office", division_id=None, channel="test", chat_id="-1",
            vault=vault,
        )  # fmt: skip
        await s.commit()
    assert released == 1
    async with database.session() as s:
        row = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.target == "division:office"))
        ).scalar_one()
        assert row.status == "pending" and vault.decrypt(row.chat_enc) == "-1"


async def test_organisation_sync_is_idempotent(database: Database, orgs, vault, clock) -> None:  # type: ignore[no-untyped-def]
    first = await make_services(database, orgs, vault, clock)
    second = await make_services(database, orgs, vault, clock)
    assert first.directory == second.directory
    assert len(first.directory.division_ids) == len(orgs.single.divisions)


async def test_conversation_rows_are_unique_per_chat(database: Database) -> None:
    async with database.session() as s:
        s.add(Conversation(channel="test", chat_key="k"))
        await s.commit()
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with database.session() as s:
            s.add(Conversation(channel="test", chat_key="k"))
            await s.commit()


def test_upgrading_creates_the_sqlite_files_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "not" / "yet" / "there.db"
    upgrade_database(f"sqlite+aiosqlite:///{target}")
    assert target.exists()


async def test_a_failed_statement_keeps_its_parameters_out_of_the_error(database: Database) -> None:
    """Security review D6: a database error is logged with its message, which used to carry the
    statement's parameters (names, chat ids, notes)."""
    from sqlalchemy.exc import IntegrityError

    row = {"code": "ZZ", "name": "ZSENTPARAM สมชาย", "at": datetime(2026, 1, 1, tzinfo=UTC)}
    insert = text(
        "INSERT INTO organisations (id, code, name_th, name_en, created_at) "
        "VALUES (99, :code, :name, :name, :at)"
    )
    async with database.session() as s:
        await s.execute(insert, row)
        with pytest.raises(IntegrityError) as raised:
            await s.execute(insert, row)
    assert "ZSENTPARAM" not in str(raised.value) and "organisations" in str(raised.value)


async def test_long_names_and_mime_types_are_stored_shortened_not_refused(
    database: Database, orgs, vault, clock
) -> None:  # type: ignore[no-untyped-def]
    """Security review D5: a Telegram name of 129 letters (64 + 64 and a space, which Telegram
    allows) or a 132-letter mime type failed on PostgreSQL's VARCHAR limits, forever."""
    from storage import staff as staff_repo
    from storage.models import Attachment, Staff

    services = await make_services(database, orgs, vault, clock)
    name = "ก" * 64 + " " + "ข" * 64
    mime = "application/" + "x" * 120
    document = {"kind": "document", "file_id": "f1", "mime_type": mime, "file_name": "n" * 400}
    draft = Draft.from_dict({
        "type": "grievance", "concerns": "no", "category": "roads", "description": "ถนนหน้าบ้านพังมาก",
        "files": [document],
    })  # fmt: skip
    async with database.session() as s:
        org_id = services.directory.org_ids["CM"]
        await staff_repo.add_staff(
            s,
            org_id=org_id,
            channel="telegram",
            user_id="6100001",
            role="staff",
            division_id=None,
            display_name=name,
        )
        reporter = ReporterInfo(channel="test", chat_id="1", user_id="1", lang="th")
        await submit_report(s, services, org=orgs.single, draft=draft, reporter=reporter, now=clock())
        await s.commit()
    async with database.session() as s:
        assert (await s.execute(select(Staff.display_name))).scalar_one() == name[:120]
        attachment = (await s.execute(select(Attachment))).scalar_one()
        assert attachment.mime_type is not None and len(attachment.mime_type) == 100
        assert open_name(vault, attachment.file_name) == "n" * 300  # kept encrypted
