"""Issue 17, point 1: `secret rotate` keeps everything under a new DAMRONGTHAM_SECRET_KEY in one
transaction, on either database. The case keys are re-wrapped, so the history's notes and the case
files are not rewritten; every keyed hash and the chain's links (and a head published before)
still hold; until the rotation commits the old key reads everything."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, text

from handlers.cases import staff_cases as staff
from kernel.draft import Draft
from storage import key_ring
from storage.audit import case_history, chain_head, verify_against
from storage.crypto import Vault
from storage.db import Database
from storage.evidence import open_name, read_held
from storage.files import FileStore
from storage.models import Attachment, Case, Conversation, InboxEvent, KeyRing, OutboxMessage, Staff
from tests.storage.case_life import CITIZEN, OFFICER, reported_and_answered
from tests.support.clock import Clock
from tests.unit.conftest import make_desk


async def _a_case_with_everything(
    database: Database, orgs, vault: Vault, clock: Clock, sender, files: FileStore
) -> int:  # type: ignore[no-untyped-def]
    desk = await make_desk(database, orgs, vault, clock, sender)
    desk.services.files = files
    await desk.add_staff("501", "personnel")
    photo = files.put(b"photo of the envelope")
    draft = Draft.from_dict({
        "type": "corruption", "concerns": "yes", "category": "bribery", "anonymous": False,
        "description": "ผู้อำนวยการกองรับเงินสด", "name": "กาญจนา", "phone": "0819998877",
        "files": [{"kind": "photo", "file_id": "held", "sha256": photo, "file_name": "ซอง.jpg"}],
    })  # fmt: skip
    async with database.session(write=True) as s:
        case_id, work = await reported_and_answered(
            s, desk, orgs.single, draft, clock, question="ขอเบอร์ติดต่อ", answer="โทร 0812345678"
        )
        await staff.add_internal_note(work, case_id=case_id, by=OFFICER, note="โทรหาแล้ว")
        # a draft under way, a webhook not yet handled, a desk second step
        s.add(
            Conversation(
                channel="test",
                chat_key=vault.lookup_key("test", "42"),
                state_enc=vault.encrypt({"description": "ร่าง"}),
            )
        )
        s.add(
            InboxEvent(
                channel="test",
                event_key="1",
                payload_enc=vault.encrypt({"update_id": 1}),
                received_at=clock(),
            )
        )
        officer = (await s.execute(select(Staff))).scalar_one()
        officer.totp_secret_enc = vault.encrypt({"key": "JBSWY3DPEHPK3PXP"})
        await s.commit()
    return case_id


async def test_rotation_rewraps_every_key_and_value_and_leaves_the_history_and_files_as_they_are(
    database: Database, orgs, vault: Vault, clock: Clock, sender, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    files = FileStore(tmp_path / "files", vault)
    case_id = await _a_case_with_everything(database, orgs, vault, clock, sender, files)
    drafted = files.put(b"a draft's photo")
    async with database.session() as s:
        published = await chain_head(s)
        events_before = (
            await s.execute(
                text("SELECT seq, public_note, internal_note, hash FROM case_events ORDER BY seq")
            )
        ).all()
    sealed_files = {p: p.read_bytes() for p in (tmp_path / "files" / "cases").rglob("*") if p.is_file()}
    reporter_key = vault.lookup_key(CITIZEN.channel, CITIZEN.user_id)

    new_key = Fernet.generate_key().decode()
    new = Vault(new_key)
    async with database.session(write=True) as s:
        rotated = await key_ring.rotate(s, vault, new, at=clock())
        prepared = files.rotate(new)
        await s.commit()
    FileStore.finish_rotation(prepared)
    assert rotated.counts["case_keys.wrapped"] == 1 and rotated.counts["staff.totp_secret_enc"] == 1
    assert rotated.counts["cases.details_enc"] == 1 and rotated.counts["outbox.payload_enc"] >= 1
    assert rotated.counts["attachments.file_name"] == 1
    assert len(prepared) == 1

    # a process started with the new key alone reads everything, and finds the same rows
    after = Vault(new_key)
    async with database.session() as s:
        await key_ring.load(s, after)
        assert after.lookup_key(CITIZEN.channel, CITIZEN.user_id) == reporter_key
        case = (await s.execute(select(Case))).scalar_one()
        assert case.reporter_key == reporter_key
        assert after.decrypt(case.details_enc)["description"] == "ผู้อำนวยการกองรับเงินสด"
        assert after.decrypt(case.reporter_enc)["phone"] == "0819998877"
        notes = {e.public_note or e.internal_note for e in await case_history(s, after, case_id)}
        assert {"ขอเบอร์ติดต่อ", "โทร 0812345678", "โทรหาแล้ว"} <= notes
        assert (
            await read_held(s, after, FileStore(tmp_path / "files", after), files.staged()[0])
            == b"a draft's photo"
        )
        assert (
            await read_held(s, after, files, next(iter(sealed_files)).name, case_id=case_id)
            == b"photo of the envelope"
        )
        name = (await s.execute(select(Attachment.file_name))).scalar_one()
        assert open_name(after, name) == "ซอง.jpg"
        convo = (await s.execute(select(Conversation))).scalar_one()
        assert after.decrypt(convo.state_enc or "") == {"description": "ร่าง"}
        assert after.decrypt((await s.execute(select(InboxEvent))).scalar_one().payload_enc) == {
            "update_id": 1
        }
        for row in (await s.execute(select(OutboxMessage))).scalars():
            after.decrypt(row.payload_enc or "")
        # the chain verifies, against the head published before the rotation too
        assert (await verify_against(s, after, published)).ok
        # the history and the case's files were not rewritten: their case key was only re-wrapped
        events_after = (
            await s.execute(
                text("SELECT seq, public_note, internal_note, hash FROM case_events ORDER BY seq")
            )
        ).all()
        assert events_after == events_before
        # and the old key reads none of it any more
        with pytest.raises(InvalidToken):
            vault.decrypt(case.details_enc)
        ring = (await s.execute(select(KeyRing))).scalar_one()  # kept wrapped, never in clear
        index_key, chain_key = after.derived_keys
        stored = ring.index_key + ring.chain_key
        assert all(
            base64.b64encode(k).decode() not in stored and k.hex() not in stored
            for k in (index_key, chain_key)
        )
    assert {p: p.read_bytes() for p in sealed_files} == sealed_files
    assert FileStore(tmp_path / "files", after).read(drafted) == b"a draft's photo"

    # a second rotation carries the same derived keys on
    newer = Vault(Fernet.generate_key().decode())
    async with database.session(write=True) as s:
        await key_ring.rotate(s, after, newer, at=clock())
        await s.commit()
    async with database.session() as s:
        assert newer.lookup_key(CITIZEN.channel, CITIZEN.user_id) == reporter_key
        assert (await verify_against(s, newer, published)).ok


async def test_a_rotation_that_cannot_open_a_value_changes_nothing(
    database: Database, orgs, vault: Vault, clock: Clock, sender, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    files = FileStore(tmp_path / "files", vault)
    case_id = await _a_case_with_everything(database, orgs, vault, clock, sender, files)
    async with database.session(write=True) as s:  # a value written under some other key
        s.add(
            InboxEvent(
                channel="test",
                event_key="2",
                payload_enc=Vault(Fernet.generate_key().decode()).encrypt({}),
                received_at=clock(),
            )
        )
        await s.commit()
    new = Vault(Fernet.generate_key().decode())
    async with database.session(write=True) as s:
        with pytest.raises(InvalidToken):
            await key_ring.rotate(s, vault, new, at=clock())
        await s.rollback()
    async with database.session() as s:
        assert await s.get(KeyRing, 1) is None
        case = (await s.execute(select(Case))).scalar_one()
        assert vault.decrypt(case.details_enc)["description"] == "ผู้อำนวยการกองรับเงินสด"
        assert "โทรหาแล้ว" in {e.internal_note for e in await case_history(s, vault, case_id)}
