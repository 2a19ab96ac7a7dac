"""The typed draft: its round trip through the encrypted conversation state, and drafts stored
by the code before it (a citizen mid-report keeps their draft across the deploy)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from handlers.cases.submit import ReporterInfo, submit_report
from kernel.draft import Draft
from kernel.messages import FileRef
from kernel.org_files import Organisations
from storage.models import Attachment, Case, Conversation
from tests.support import Photo, Press
from tests.unit.conftest import STAFF_CHATS, Desk

# a draft at the evidence step, exactly as the untyped dict stored it
OLD_FORMAT = {
    "org": "CM",
    "type": "corruption",
    "concerns": "yes",
    "named_division": None,
    "category": "bribery",
    "description": "เจ้าหน้าที่เรียกเงินห้าพันบาทเพื่อเร่งอนุมัติใบอนุญาต",
    "when": "เมื่อวันจันทร์ที่แล้ว",
    "location": [18.7883, 98.9853],
    "people": None,
    "files": [
        {"kind": "photo", "file_id": "receipt-photo", "file_unique_id": "u1", "file_name": None,
         "mime_type": None, "size": None, "sha256": None},
    ],
    "a_key_no_code_knows": 1,
}  # fmt: skip


def test_a_full_draft_survives_the_round_trip_through_json() -> None:
    draft = Draft(
        type="grievance", concerns="no", named_division="office", category="roads",
        description="ถนนพังเสียหายหนัก", when="เมื่อวาน", where="หน้าตลาด", location=(18.79, 98.98),
        people="ผู้รับเหมา", wanted="สำเนาสัญญา",
        files=[FileRef(kind="document", file_id="f1", file_name="a.pdf", size=10),
               FileRef(kind="voice", file_id="v1", mime_type="audio/ogg"),
               FileRef(kind="video", file_id="c1")],
        anonymous=False, name="สมชาย", phone="+66812345678", contact=None, editing=True, quick=True,
    )  # fmt: skip
    stored = json.loads(json.dumps(draft.to_dict()))
    assert Draft.from_dict(stored) == draft


def test_an_empty_draft_stores_nothing_and_reads_back_empty() -> None:
    assert Draft().to_dict() == {}
    assert Draft.from_dict({}) == Draft()
    assert not Draft().started and Draft(type="information").started
    assert Draft(quick=True).started  # begun in own words: drafting before its type is confirmed


def test_an_old_format_dict_reads_into_the_typed_draft() -> None:
    draft = Draft.from_dict(OLD_FORMAT)
    assert draft.type == "corruption" and draft.concerns == "yes" and draft.category == "bribery"
    assert draft.location == (18.7883, 98.9853) and draft.people is None and draft.anonymous
    assert draft.files == [FileRef(kind="photo", file_id="receipt-photo", file_unique_id="u1")]
    # written back, the draft keeps the old layout (a rollback reads it too); other keys are not its own
    assert draft.to_dict() == {
        k: v for k, v in OLD_FORMAT.items() if v is not None and k not in ("org", "a_key_no_code_knows")
    }


def test_malformed_values_take_their_default_and_keep_the_rest() -> None:
    draft = Draft.from_dict(
        {
            "type": "complaint", "concerns": True, "category": 7, "description": "ยังอยู่",
            "location": [200, 0], "anonymous": "no", "editing": "yes",
            "files": [{"kind": "sticker", "file_id": "v"}, {"kind": "photo"}, "x",
                      {"kind": "photo", "file_id": "p", "size": True}],
        }
    )  # fmt: skip
    assert draft == Draft(description="ยังอยู่", files=[FileRef(kind="photo", file_id="p")])
    assert Draft.from_dict({"location": "18,98"}).location is None
    assert Draft.from_dict({"location": [True, 1]}).location is None


def test_a_draft_fits_only_divisions_and_categories_the_organisation_has(orgs: Organisations) -> None:
    org = orgs.single
    assert org is not None
    assert Draft(type="grievance", category="roads", named_division="office").fits(org)
    assert not Draft(type="grievance", named_division="no-such-division").fits(org)
    assert not Draft(type="information", category="roads").fits(org)  # roads is a grievance category


async def test_submit_refuses_a_draft_without_its_category(desk: Desk) -> None:
    org = desk.services.orgs.single
    assert org is not None
    reporter = ReporterInfo(channel="test", chat_id="1", user_id="1", lang="th")
    async with desk.db.session() as s:
        with pytest.raises(ValueError, match="category"):
            await submit_report(
                s,
                desk.services,
                org=org,
                draft=Draft(type="grievance"),
                reporter=reporter,
                now=desk.services.clock(),
            )


async def test_a_citizen_mid_report_keeps_their_old_format_draft_across_the_deploy(desk: Desk) -> None:
    chat = desk.chat()
    await chat.play(
        [
            ("/start", "เลือกเรื่อง"),
            (Press("แจ้งเบาะแสการทุจริต"), "บุคลากร"),
            (Press("ใช่"), "ส่วนราชการใด"),
            (Press("ข้าม / ไม่แน่ใจ"), "ประเภทของเรื่อง"),
            (Press("สินบน"), "รายละเอียด"),
            (OLD_FORMAT["description"], "เมื่อใด"),
            ("เมื่อวันจันทร์ที่แล้ว", "เกิดขึ้นที่ใด"),
            (Press("ข้าม"), "มีผู้เกี่ยวข้อง"),
            (Press("ข้าม"), "หลักฐาน"),
        ]
    )
    # the old code stored the draft (this state) before the deploy; the new code carries on from it
    async with desk.db.session() as s:
        convo = (await s.execute(select(Conversation))).scalar_one()
        convo.state_enc = desk.services.vault.encrypt(OLD_FORMAT)
        await s.commit()
    await chat.play(
        [
            (Photo("second-photo"), "(2/5)"),
            (Press("เสร็จแล้ว"), "ไม่เปิดเผยชื่อ"),
        ]
    )
    summary = await chat.say(Press("ไม่เปิดเผยชื่อ"))
    assert "สรุปเรื่องที่จะแจ้ง" in summary and OLD_FORMAT["description"] in summary
    assert "CM-2569-000001" in await chat.say(Press("ส่งเรื่อง"))
    async with desk.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        files = (await s.execute(select(Attachment.file_id).order_by(Attachment.id))).scalars().all()
    assert case.report_type == "corruption" and case.category == "bribery"
    assert list(files) == ["receipt-photo", "second-photo"]
    card = desk.sender.to(STAFF_CHATS["personnel"])
    assert [r.media.kind for r in card[1:] if r.media] == ["photo", "photo", "location"]
