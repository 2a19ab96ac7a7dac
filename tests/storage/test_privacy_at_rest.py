"""Issue 17, point 1: nothing personal in the clear, on either database. A case goes through its
whole life with sentinel personal data in every free-text field (the reporter's answer and added
information, staff questions and notes, the closing note, the rating comment) and evidence files;
then the raw bytes of the SQLite file, or a `pg_dump` of the PostgreSQL database, the files folder
and the exports hold none of it, and each file is kept under its case's key only. Erasure destroys
the case's key: the text and the files are gone for good, the chain still verifies, the figures
stay."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot.exports import table_bytes
from handlers.cases import reporter_cases as reporter
from handlers.cases import staff_cases as staff
from handlers.cases.privacy import erase_personal_data
from handlers.cases.stats import case_rows, export_header, export_row
from handlers.cases.submit import ReporterInfo, submit_report
from handlers.core.work import Work
from kernel.draft import Draft
from kernel.messages import FileRef
from storage.audit import case_history, verify_chain
from storage.db import Database
from storage.evidence import convert_files, convert_names, open_name, read_held
from storage.files import FileStore
from storage.models import Attachment, Case, CaseKey
from tests.storage.case_life import CITIZEN, OFFICER, reported_and_answered
from tests.support.clock import Clock
from tests.unit.conftest import make_desk

SENTINELS = {
    "name": "ZSENTNAME กาญจนา",
    "phone": "0819998877",
    "description": "ZSENTDESC ผู้อำนวยการกองรับเงินสด",
    "people": "ZSENTPEOPLE นายสมปอง",
    "ask": "ZSENTASK ขอเบอร์ติดต่อ",
    "reply": "ZSENTREPLY ผมชื่อสมชาย โทร 0812345678",
    "add": "ZSENTADD เพิ่มเติม",
    "note": "ZSENTNOTE โทรหาแล้ว",
    "resolve": "ZSENTRESOLVE ลงโทษแล้ว",
    "rate": "ZSENTRATE ขอบคุณ",
    "file": "ZSENTFILE สลิปโอนเงิน",
    "added_file": "ZSENTADDEDFILE ใบเสร็จ",
    "file_name": "ZSENTFNAME สลิป นายสมปอง.jpg",
    "added_name": "ZSENTADDEDNAME ใบเสร็จ กาญจนา.jpg",
}
# what the reporter or staff wrote in the history, which erasure makes unreadable
HISTORY_TEXT = ("ask", "reply", "add", "note", "resolve", "rate")


async def _dump(db: Database, url: str) -> bytes:
    """Every byte the database keeps: the SQLite file (its log written back), or a pg_dump."""
    if db.dialect == "sqlite":
        async with db.engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        path = Path(str(make_url(url).database))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    parts = make_url(url)
    command = [
        "pg_dump",
        "-h",
        str(parts.host),
        "-p",
        str(parts.port or 5432),
        "-U",
        "postgres",
        str(parts.database),
    ]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, check=True)
    return done.stdout


def _held(root: Path) -> dict[Path, bytes]:
    """Every file under the files folder, as it lies on the disk."""
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _found(data: bytes, names: tuple[str, ...] | None = None) -> list[str]:
    return [n for n in names or tuple(SENTINELS) if SENTINELS[n].split()[0].encode() in data]


async def test_no_sentinel_is_kept_in_the_clear_and_erasure_destroys_the_history_text(
    database: Database, db_url: str, orgs, vault, clock: Clock, sender, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    desk = await make_desk(database, orgs, vault, clock, sender)
    files = FileStore(tmp_path / "files", vault)
    desk.services.files = files
    await desk.add_staff("501", "personnel")
    sha = files.put(SENTINELS["file"].encode())
    draft = Draft.from_dict({
        "type": "corruption", "concerns": "yes", "category": "bribery", "anonymous": False,
        "description": SENTINELS["description"], "people": SENTINELS["people"],
        "name": SENTINELS["name"], "phone": SENTINELS["phone"],
        "files": [{"kind": "photo", "file_id": "held", "sha256": sha, "file_name": SENTINELS["file_name"]}],
    })  # fmt: skip
    async with database.session(write=True) as s:
        case_id, work = await reported_and_answered(
            s, desk, orgs.single, draft, clock, question=SENTINELS["ask"], answer=SENTINELS["reply"]
        )
        await reporter.add_information(work, case_id=case_id, by=CITIZEN, text=SENTINELS["add"])
        added = files.put(SENTINELS["added_file"].encode())
        await reporter.add_information(
            work,
            case_id=case_id,
            by=CITIZEN,
            file=FileRef("photo", f"line:{added}", file_name=SENTINELS["added_name"], sha256=added),
        )
        await staff.add_internal_note(work, case_id=case_id, by=OFFICER, note=SENTINELS["note"])
        await staff.close_case(
            work, case_id=case_id, by=OFFICER, outcome="resolved", public_note=SENTINELS["resolve"]
        )
        await reporter.rate(work, case_id=case_id, by=CITIZEN, score=4)
        await reporter.comment_rating(work, case_id=case_id, by=CITIZEN, comment=SENTINELS["rate"])
        await s.commit()
    await desk.dispatcher.drain()  # the messages go, and the outbox keeps none of their text

    # staff read every word; nothing is in the clear anywhere
    async with database.session() as s:
        history = await case_history(s, vault, case_id)
        written = {e.public_note or e.internal_note for e in history} - {None}
        assert {SENTINELS[n] for n in HISTORY_TEXT} <= written
    async with database.session(write=True) as s:  # and the files, by the names they came with
        work = Work(s, desk.services, clock())
        opened = [
            await staff.open_file(work, reference="CM-2569-000001", number=n, by=OFFICER) for n in (1, 2)
        ]
        assert [f.name for f in opened] == [SENTINELS["file_name"], SENTINELS["added_name"]]
        await s.commit()
    dump = await _dump(database, db_url)
    assert b"CM-2569-000001" in dump and _found(dump) == []  # a real dump, without one sentinel
    held = _held(tmp_path / "files")
    assert _found(b"".join(held.values())) == []
    # each file is kept under its case's key only: the copy kept while the report was written is gone
    assert files.staged() == [] and sorted(p.name for p in held) == sorted([sha, added])
    assert all(p.parent.name == str(case_id) for p in held)
    async with database.session() as s:
        for name, sentinel in ((sha, "file"), (added, "added_file")):
            opened = await read_held(s, vault, files, name, case_id=case_id)
            assert opened == SENTINELS[sentinel].encode()
    async with database.session() as s:
        org = orgs.single
        day = timedelta(days=1)
        org_id = desk.services.directory.org_ids[org.code]
        rows = await case_rows(s, org_id=org_id, start=clock() - day, end=clock() + day)
        for lang in ("th", "en"):
            table = [export_row(r, org, lang) for r in rows]
            for fmt in ("csv", "xlsx"):
                assert _found(table_bytes(fmt, export_header(lang), table, sheet="cases")) == []

    # the reporter's data erased: the key is destroyed, the text unreadable, the record and chain stay
    async with database.session(write=True) as s:
        case = await s.get(Case, case_id)
        assert case is not None
        await erase_personal_data(Work(s, desk.services, clock()), case, reason="reporter")
        await s.commit()
    async with database.session() as s:
        history = await case_history(s, vault, case_id)
        assert [e.kind for e in history if e.erased] == [
            "ask",
            "reply",
            "add_info",
            "add_info",
            "note",
            "resolve",
            "rating",
        ]
        assert all(e.public_note is None and e.internal_note is None for e in history)
        key = await s.get(CaseKey, case_id)
        assert key is not None and key.wrapped is None and key.erased_at is not None
        assert (await verify_chain(s, vault)).ok
        assert (await s.execute(select(Case.rating))).scalar_one() == 4
    assert _held(tmp_path / "files") == {}  # the evidence files are deleted
    # and a copy of them kept elsewhere (a backup of the folder) can no longer be opened
    for path, data in held.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    async with database.session() as s:
        assert await read_held(s, vault, files, sha, case_id=case_id) is None
        assert await read_held(s, vault, files, added) is None


async def test_files_kept_by_an_older_version_are_sealed_under_their_cases_keys_once(
    database: Database, orgs, vault, clock: Clock, sender, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    desk = await make_desk(database, orgs, vault, clock, sender)
    files = FileStore(tmp_path / "files", vault)
    old, drafted = files.put(b"kept by an older version"), files.put(b"a draft's photo")
    draft = Draft.from_dict({
        "type": "grievance", "category": "roads", "description": "ถนนพัง",
        "files": [{"kind": "photo", "file_id": "held", "sha256": old}],
    })  # fmt: skip
    info = ReporterInfo(channel="test", chat_id="1", user_id="1", lang="th")
    async with database.session(write=True) as s:  # written by a version without desk.services.files
        case_id = (
            await submit_report(s, desk.services, org=orgs.single, draft=draft, reporter=info, now=clock())
        ).case_id
        await s.commit()
    assert files.staged() == sorted([old, drafted])

    desk.services.files = files
    retry = Draft.from_dict(
        {**draft.to_dict(), "files": [{"kind": "photo", "file_id": "d", "sha256": drafted}]}
    )
    async with database.session(write=True) as s:  # a submit rolled back keeps the draft's copy
        await submit_report(s, desk.services, org=orgs.single, reporter=info, now=clock(), draft=retry)
        await s.rollback()
    assert files.staged() == sorted([old, drafted])

    async with database.session(write=True) as s:
        assert await convert_files(s, vault, files) == 1
        await s.commit()
    assert files.staged() == [drafted]  # the draft's file waits for its submit
    assert files.has_sealed(case_id, old)
    async with database.session(write=True) as s:
        assert await convert_files(s, vault, files) == 0
        assert await read_held(s, vault, files, old) == b"kept by an older version"

    # a document's name an older version kept in clear is encrypted, once
    async with database.session(write=True) as s:
        await s.execute(text("UPDATE attachments SET file_name = 'ใบเสร็จ นายสมปอง.pdf'"))
        assert await convert_names(s, vault) == 1
        assert await convert_names(s, vault) == 0
        stored = (await s.execute(select(Attachment.file_name))).scalar_one()
        assert "สมปอง" not in (stored or "") and open_name(vault, stored) == "ใบเสร็จ นายสมปอง.pdf"
        await s.commit()

    # submitted again, under the number the rolled back one had taken: sealed under the new key
    async with database.session(write=True) as s:
        again = await submit_report(
            s, desk.services, org=orgs.single, reporter=info, now=clock(), draft=retry
        )
        await s.commit()
    assert files.staged() == []
    async with database.session() as s:
        assert await read_held(s, vault, files, drafted, case_id=again.case_id) == b"a draft's photo"
