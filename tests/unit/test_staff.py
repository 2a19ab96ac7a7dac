"""Staff handle routed cases from the card; the reporter hears every public step; nobody else can act."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from storage.audit import case_history, verify_chain
from storage.models import Case, CaseDivision, CaseEvent, Division
from tests.support.chat import Chat
from tests.support.inputs import Photo, Press
from tests.unit.conftest import STAFF_CHATS, Desk
from tests.unit.test_intake import report_until_summary

PERSONNEL_CHAT = STAFF_CHATS["personnel"]


async def _submitted(desk: Desk) -> tuple[Chat, int]:
    citizen = desk.chat("1001")
    await report_until_summary(citizen)
    await citizen.say(Press("ส่งเรื่อง"))
    async with desk.db.session() as s:
        case_id = (await s.execute(select(Case.id))).scalar_one()
    return citizen, case_id


def _staff(desk: Desk, user_id: str, chat_id: str = PERSONNEL_CHAT, name: str = "") -> Chat:
    chat = desk.chat(chat_id, chat_type="group", user_id=user_id, user_name=name or None)
    chat.look()
    return chat


async def _status(desk: Desk) -> str:
    async with desk.db.session() as s:
        return (await s.execute(select(Case.status))).scalar_one()


async def test_accept_ask_answer_resolve_rate(desk: Desk) -> None:
    citizen, _case_id = await _submitted(desk)
    await desk.add_staff("501", "personnel", name="สมศรี วินัยดี")
    officer = _staff(desk, "501")

    assert "รับเรื่อง เรื่อง CM-2569-000001 แล้ว" in await officer.say(Press("รับเรื่อง"))
    assert await _status(desk) == "accepted"
    assert "ได้รับการตอบรับแล้ว" in desk.sender.to(citizen.chat_id)[-1].text
    # every posted card is edited to show the state and who acted
    edits = {
        c: r for c, r in desk.sender.sent if r.edit_message_id and c in (PERSONNEL_CHAT, STAFF_CHATS["legal"])
    }
    assert len([r for _c, r in desk.sender.sent if r.edit_message_id]) == 2
    for edit in edits.values():
        assert "สถานะ: ตอบรับแล้ว" in edit.text and "โดย สมศรี วินัยดี" in edit.text
    # the responsible division's card offers the accepted case's next actions, and only those;
    # the card sent for information has none
    assert [[b.label for b in row] for row in edits[PERSONNEL_CHAT].buttons] == [
        ["🔍 เริ่มตรวจสอบ", "❓ ถามผู้แจ้ง"],
        ["📣 แจ้งความคืบหน้า", "↪️ โอนเรื่อง"],
        ["🏁 ดำเนินการแล้วเสร็จ", "📤 ส่งต่อหน่วยงานอื่น"],
        ["⛔ ยุติเรื่อง", "📝 บันทึกภายใน"],
        ["🏷 แก้ประเภทเรื่อง"],
    ]
    assert edits[PERSONNEL_CHAT].button_payloads()["❓ ถามผู้แจ้ง"] == "s.ask.1"
    assert edits[STAFF_CHATS["legal"]].buttons == []

    officer.look()
    assert "กรุณาพิมพ์ข้อความที่จะแจ้งผู้แจ้ง" in await officer.say(Press("ถามผู้แจ้ง"))
    await officer.say("กรุณาระบุชื่อร้านค้าที่ถูกเรียกเงิน")
    assert await _status(desk) == "awaiting_info"
    question = desk.sender.to(citizen.chat_id)[-1]
    assert "กรุณาระบุชื่อร้านค้า" in question.text

    citizen.last_buttons = question.button_payloads()
    assert "ส่งข้อความ รูปภาพ หรือเอกสารเพิ่มเติม" in await citizen.say(Press("ตอบคำถาม"))
    assert "ส่งถึงเจ้าหน้าที่แล้ว" in await citizen.say("ร้านวัสดุก่อสร้างรุ่งเรือง ถนนเจ็ดยอด")
    assert await _status(desk) == "investigating"
    to_staff = desk.sender.to(PERSONNEL_CHAT)
    answer = next(r for r in to_staff if r.text.startswith("💬 ผู้แจ้งตอบคำถาม"))
    assert "ร้านวัสดุก่อสร้างรุ่งเรือง" in answer.text and citizen.chat_id not in answer.text
    await citizen.say(Photo("receipt-2"))
    assert any(r.media and r.media.file_id == "receipt-2" for r in desk.sender.to(PERSONNEL_CHAT))
    await citizen.say(Press("เสร็จแล้ว"))

    officer.look()
    await officer.say(Press("ดำเนินการแล้วเสร็จ"))
    await officer.say("ตั้งกรรมการสอบข้อเท็จจริงและลงโทษทางวินัยแล้ว")
    assert await _status(desk) == "resolved"
    result, rating = desk.sender.to(citizen.chat_id)[-2:]
    assert "ผลการดำเนินการ" in result.text and "ลงโทษทางวินัย" in result.text
    citizen.last_buttons = rating.button_payloads()
    # each rating says its number, not only stars (a screen reader reads "star star star")
    assert list(citizen.last_buttons) == [f"⭐ {n} ดาว" for n in range(1, 6)]
    assert "ความเห็นเพิ่มเติม" in await citizen.say(Press("⭐ 4 ดาว"))
    assert "ขอบคุณสำหรับความเห็น" in await citizen.say("รวดเร็วดีมาก")
    async with desk.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        assert case.rating == 4 and case.acknowledged_at and case.closed_at
        kinds = list((await s.execute(select(CaseEvent.kind).order_by(CaseEvent.seq))).scalars())
        assert kinds == ["received", "accept", "ask", "reply", "add_info", "resolve", "rating", "rating"]
        assert (await verify_chain(s, desk.services.vault)).ok


async def test_outsiders_and_other_divisions_cannot_act(desk: Desk, caplog) -> None:  # type: ignore[no-untyped-def]
    _citizen, case_id = await _submitted(desk)
    await desk.add_staff("601", "office")
    stranger = _staff(desk, "999")
    assert "ไม่มีสิทธิ์" in await stranger.say(Press("รับเรื่อง"))
    office_staff = desk.chat(STAFF_CHATS["office"], chat_type="group", user_id="601")
    forged = await office_staff.say(__import__("kernel.messages", fromlist=["Incoming"]).Incoming(
        channel="test", chat_id=STAFF_CHATS["office"], user_id="601", chat_type="group",
        update_key="forged-1", payload=f"s.resolve.{case_id}",
    ))  # fmt: skip
    assert "ไม่มีสิทธิ์" in forged
    assert await _status(desk) == "received"
    assert caplog.text.count("staff action refused") == 2


async def test_invalid_transition_is_refused_with_the_reason(desk: Desk) -> None:
    await _submitted(desk)
    await desk.add_staff("501", "personnel")
    officer = _staff(desk, "501")
    stale = dict(officer.last_buttons)
    await officer.say(Press("รับเรื่อง"))
    officer.last_buttons = stale  # the old card's button, pressed again
    answer = await officer.say(Press("รับเรื่อง"))
    assert "ทำ “✅ รับเรื่อง” ไม่ได้" in answer and "ตอบรับแล้ว" in answer


async def test_terminal_actions_need_a_public_note(desk: Desk) -> None:
    await _submitted(desk)
    await desk.add_staff("501", "personnel")
    officer = _staff(desk, "501")
    await officer.say(Press("รับเรื่อง"))
    officer.look()
    await officer.say(Press("ยุติเรื่อง"))
    assert "กรุณาพิมพ์ข้อความตอบกลับ" in await officer.say("/whatever")
    assert "ยกเลิก" in await officer.say("/cancel")
    assert await _status(desk) == "accepted"


async def _primary_copy(desk: Desk) -> tuple[str | None, str | None]:
    """The case row's copy of its primary divisions, and what case_divisions says it should be."""
    async with desk.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        rows = await s.execute(
            select(CaseDivision.division_id).where(
                CaseDivision.case_id == case.id, CaseDivision.role == "primary"
            )
        )
        expected = ",".join(str(i) for i in sorted(rows.scalars())) or None
        return case.primary_division_ids, expected


async def test_transfer_moves_the_case_and_sends_the_card(desk: Desk) -> None:
    await _submitted(desk)
    division_ids = desk.services.directory.division_ids
    assert await _primary_copy(desk) == (str(division_ids[("CM", "personnel")]),) * 2
    await desk.bind("division:audit", "-1006")
    await desk.add_staff("501", "personnel")
    officer = _staff(desk, "501")
    choose = await officer.say(Press("โอนเรื่อง"))
    assert "โอนไปยังส่วนราชการใด" in choose and "สำนักปลัดองค์การ" not in str(officer.last_buttons)
    await officer.say(Press("หน่วยตรวจสอบภายใน"))
    await officer.say("เกี่ยวกับการตรวจรับพัสดุ")
    async with desk.db.session() as s:
        routed = sorted((await s.execute(select(Division.code, CaseDivision.role).join(CaseDivision))).all())
    assert routed == [("audit", "primary"), ("legal", "informed")]
    assert await _primary_copy(desk) == (str(division_ids[("CM", "audit")]),) * 2
    assert "CM-2569-000001" in desk.sender.to("-1006")[0].text
    assert "หน่วยตรวจสอบภายใน" in desk.sender.to("1001")[-1].text


async def test_internal_note_is_not_sent_to_the_reporter(desk: Desk) -> None:
    citizen, _ = await _submitted(desk)
    before = len(desk.sender.to(citizen.chat_id))
    await desk.add_staff("501", "personnel")
    officer = _staff(desk, "501")
    await officer.say(Press("บันทึกภายใน"))
    await officer.say("ตรวจสอบประวัติผู้ถูกกล่าวหาแล้ว")
    assert len(desk.sender.to(citizen.chat_id)) == before
    async with desk.db.session() as s:
        stored = (await s.execute(select(CaseEvent).where(CaseEvent.kind == "note"))).scalar_one()
        [event] = [e for e in await case_history(s, desk.services.vault, stored.case_id) if e.kind == "note"]
    assert event.internal_note == "ตรวจสอบประวัติผู้ถูกกล่าวหาแล้ว" and event.public_note is None
    assert "ตรวจสอบ" not in (stored.internal_note or "")  # sealed under the case's key


async def test_reporter_can_withdraw_an_open_case(desk: Desk) -> None:
    citizen, _ = await _submitted(desk)
    await citizen.say("/status")
    await citizen.say(Press("ถอนเรื่อง"))
    assert "ถอนเรื่อง CM-2569-000001 เรียบร้อยแล้ว" in await citizen.say(Press("ยืนยันถอนเรื่อง"))
    assert await _status(desk) == "withdrawn"
    assert any("ผู้แจ้งถอนเรื่อง" in r.text for r in desk.sender.to(PERSONNEL_CHAT))
    other = desk.chat("2222")
    from kernel.messages import Incoming

    answer = await other.say(
        Incoming(channel="test", chat_id="2222", user_id="2222", update_key="x", payload="c.add.1")
    )
    assert "ไม่พบเรื่องนี้ในเรื่องที่ท่านแจ้ง" in answer


async def test_cases_and_case_commands(desk: Desk) -> None:
    await _submitted(desk)
    await desk.add_staff("501", "personnel")
    officer = _staff(desk, "501")
    listing = await officer.say("/cases")
    assert "CM-2569-000001" in listing and "รับเรื่องแล้ว" in listing
    shown = await officer.send("/case CM-2569-000001")
    assert "ประวัติการดำเนินการ" in "\n".join(r.text for r in shown)
    assert [r.media.kind for r in shown if r.media] == ["photo", "location"]
    assert "ไม่มีสิทธิ์" in await _staff(desk, "999").say("/cases")


async def test_cases_in_another_divisions_group_lists_nothing_there(desk: Desk) -> None:
    """Security review D9: office staff typing /cases in personnel's group got the office's cases
    listed there, for personnel to read."""
    await _submitted(desk)
    await desk.add_staff("601", "office")
    answer = await _staff(desk, "601").say("/cases")
    assert "CM-" not in answer and "แชตของส่วนราชการอื่น" in answer
    assert "CM-2569-000001" not in await desk.chat("601").say("/cases")  # privately: their own only


async def test_coordinator_view_of_an_anonymous_case_is_audited(desk: Desk) -> None:
    await _submitted(desk)
    await desk.add_staff("900", None, role="coordinator")
    coordinator = desk.chat("900")
    await coordinator.say("/case CM-2569-000001")
    async with desk.db.session() as s:
        kinds = list((await s.execute(select(CaseEvent.kind))).scalars())
    assert "viewed" in kinds


async def test_join_and_bind_with_one_time_codes(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from storage.staff import create_code

    async with desk.db.session() as s:
        join = await create_code(s, org_id=1, purpose="join", target="division:finance", role="staff",
                                 now=clock(), ttl=timedelta(days=7))  # fmt: skip
        bind = await create_code(s, org_id=1, purpose="bind", target="division:finance", role="staff",
                                 now=clock(), ttl=timedelta(days=7))  # fmt: skip
        await s.commit()
    person = desk.chat("7007", user_name="มานี คลังดี")
    assert "เป็นเจ้าหน้าที่ของกองคลัง" in await person.say(f"/join {join.lower()}")
    assert "ไม่ถูกต้อง ใช้ไปแล้ว" in await person.say(f"/join {join}")
    group = desk.chat("-1007", chat_type="group", user_id="7007")
    assert "แชตนี้จะรับเรื่องของกองคลัง" in await group.say(f"/bind {bind}")
    assert "ไม่ถูกต้อง" in await desk.chat("-1008", chat_type="group").say(f"/bind {bind}")
    assert re.search(r"รับเรื่องของ", "แชตนี้จะรับเรื่องของกองคลัง")


async def _named_tip(desk: Desk, division_label: str, concerns: str = "ใช่") -> Chat:
    citizen = desk.chat("1001")
    await citizen.play(
        [
            ("/start", "เลือกเรื่อง"),
            (Press("แจ้งเบาะแสการทุจริต"), "บุคลากร"),
            (Press(concerns), "ส่วนราชการใด"),
            (Press(division_label), "ประเภท"),
            (Press("สินบน"), "รายละเอียด"),
            ("เจ้าหน้าที่กองการเจ้าหน้าที่เรียกเงินเพื่อบรรจุเข้าทำงาน", "เมื่อใด"),
            (Press("ข้าม"), "ที่ใด"),
            (Press("ข้าม"), "ผู้เกี่ยวข้อง"),
            (Press("ข้าม"), "หลักฐาน"),
            (Press("ข้าม"), "ไม่เปิดเผยชื่อ"),
            (Press("เปิดเผยชื่อ"), "ชื่อ"),
            ("สมชาย ใจดี", "ติดต่อ"),
            ("0812345678", "สรุป"),
            (Press("ส่งเรื่อง"), "CM-2569-000001"),
        ]
    )
    return citizen


async def test_a_case_never_moves_to_the_division_it_is_about(desk: Desk) -> None:
    from kernel.messages import Incoming

    await _named_tip(desk, "กองการเจ้าหน้าที่")  # about Personnel: Legal acts, the coordinators see it
    await desk.add_staff("201", "legal")
    legal = _staff(desk, "201", STAFF_CHATS["legal"])
    choose = await legal.say(Press("โอนเรื่อง"))
    assert "โอนไปยังส่วนราชการใด" in choose and "กองการเจ้าหน้าที่" not in " ".join(legal.last_buttons)
    forged = Incoming(channel="test", chat_id=STAFF_CHATS["legal"], user_id="201", chat_type="group",
                      update_key="forged-x", payload="s.xfer.1.personnel")  # fmt: skip
    await legal.say(forged)
    answer = await legal.say("ส่งให้กองการเจ้าหน้าที่")
    assert "ผลประโยชน์ทับซ้อน" in answer
    assert desk.sender.to(PERSONNEL_CHAT) == []


async def test_an_informed_division_sees_the_case_but_does_not_act(desk: Desk) -> None:
    from kernel.messages import Incoming

    await _submitted(desk)  # Personnel responsible, Legal informed
    legal_card = desk.sender.to(STAFF_CHATS["legal"])[0]
    assert "[เพื่อทราบ]" in legal_card.text and legal_card.buttons == []
    await desk.add_staff("201", "legal")
    legal = desk.chat(STAFF_CHATS["legal"], chat_type="group", user_id="201")
    for action in ("accept", "transfer", "resolve"):
        forged = Incoming(channel="test", chat_id=STAFF_CHATS["legal"], user_id="201", chat_type="group",
                          update_key=f"forged-{action}", payload=f"s.{action}.1")  # fmt: skip
        assert "ไม่มีสิทธิ์" in await legal.say(forged)
    assert await _status(desk) == "received"


async def test_case_details_are_shown_only_where_they_belong(desk: Desk) -> None:
    await _submitted(desk)
    await desk.add_staff("501", "personnel")
    elsewhere = desk.chat(STAFF_CHATS["office"], chat_type="group", user_id="501")
    answer = await elsewhere.say("/case CM-2569-000001")
    assert "แชตส่วนตัว" in answer and "เจ้าหน้าที่เรียกเงิน" not in answer
    assert "ประวัติการดำเนินการ" in await desk.chat("501").say("/case CM-2569-000001")


async def test_every_staff_action_is_refused_to_outsiders_and_logged(desk: Desk, caplog) -> None:  # type: ignore[no-untyped-def]
    from kernel.lifecycle import STAFF_ACTIONS
    from kernel.messages import Incoming

    citizen, case_id = await _submitted(desk)
    await desk.add_staff("601", "office")
    attempts = [
        ("citizen in their own chat", citizen.chat_id, "private", citizen.chat_id),
        ("staff of another division", STAFF_CHATS["office"], "group", "601"),
        ("a stranger in the responsible group", PERSONNEL_CHAT, "group", "999"),
    ]
    for n, (_who, chat_id, chat_type, user_id) in enumerate(attempts):
        chat = desk.chat(chat_id, chat_type=chat_type, user_id=user_id)
        for action in STAFF_ACTIONS:
            data = f"s.xfer.{case_id}.finance" if action == "transfer" else f"s.{action}.{case_id}"
            forged = Incoming(channel="test", chat_id=chat_id, user_id=user_id, chat_type=chat_type,  # type: ignore[arg-type]
                              update_key=f"forged-{n}-{action}", payload=data)  # fmt: skip
            assert "ไม่มีสิทธิ์" in await chat.say(forged), (user_id, action)
    assert caplog.text.count("staff action refused") == len(attempts) * len(STAFF_ACTIONS)
    assert await _status(desk) == "received"
    async with desk.db.session() as s:
        kinds = list((await s.execute(select(CaseEvent.kind))).scalars())
    assert kinds == ["received"]  # nothing happened to the case


async def test_join_and_bind_guesses_are_counted_locked_and_logged(desk: Desk, clock, caplog) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from storage.staff import create_code

    async with desk.db.session() as s:
        join = await create_code(s, org_id=1, purpose="join", target="division:finance", role="staff",
                                 now=clock(), ttl=timedelta(days=7))  # fmt: skip
        await s.commit()
    guesser = desk.chat("7100")
    for n in range(3):
        assert "ไม่ถูกต้อง" in await guesser.say(f"/join ABCDE-FGH{n}")
    # the fourth try waits, even with the right code, and says until when
    assert "ลองใหม่หลังเวลา" in await guesser.say(f"/join {join}")
    assert "ลองใหม่หลังเวลา" in await desk.chat("-1009", chat_type="group", user_id="7100").say("/bind ZZZ")
    refused = [r for r in caplog.records if "code" in r.getMessage() and r.name == "handlers.staff.enrolment"]
    assert len(refused) == 5 and "7100" not in " ".join(r.getMessage() for r in refused)
    # someone else is not held up by it; the guesser can try again after the wait
    assert "ไม่ถูกต้อง" in await desk.chat("7101").say("/join ABCDE-FGHIJ")
    clock.advance(minutes=2)
    assert "เป็นเจ้าหน้าที่ของกองคลัง" in await guesser.say(f"/join {join}")


async def test_staff_correct_the_category_from_the_card_and_it_is_in_the_history(desk: Desk) -> None:
    citizen, case_id = await _submitted(desk)  # a tip-off the reporter filed as bribery
    await desk.add_staff("501", "personnel", name="สมศรี วินัยดี")
    officer = _staff(desk, "501")
    told = len(desk.sender.to(citizen.chat_id))
    choices = await officer.send(Press("แก้ประเภทเรื่อง"))
    labels = [b.label for row in choices[-1].buttons for b in row]
    assert "เรื่อง CM-2569-000001: ประเภทของเรื่องที่ถูกต้องคือ" in choices[-1].text
    assert "การจัดซื้อจัดจ้างไม่โปร่งใส" in labels and "เรียกรับสินบน / ผลประโยชน์" not in labels  # not the same
    assert "แก้ประเภทเรื่อง เรื่อง CM-2569-000001 แล้ว" in await officer.say(Press("การจัดซื้อจัดจ้างไม่โปร่งใส"))
    async with desk.db.session() as s:
        case = await s.get(Case, case_id)
        assert case is not None and case.category == "procurement" and case.status == "received"
        event = (await s.execute(select(CaseEvent).where(CaseEvent.kind == "recategorise"))).scalar_one()
        assert json.loads(event.data_json or "") == {"from": "bribery", "to": "procurement"}
        assert event.actor.startswith("staff:")
        assert await verify_chain(s, desk.services.vault)
    edits = [r for c, r in desk.sender.sent if r.edit_message_id and c == PERSONNEL_CHAT]
    assert "การจัดซื้อจัดจ้างไม่โปร่งใส" in edits[-1].text and "แก้ประเภทเรื่อง โดย สมศรี วินัยดี" in edits[-1].text
    assert len(desk.sender.to(citizen.chat_id)) == told  # the reporter is not told

    # a forged press for a category of another kind of report, or from a division only informed
    stale = await officer.send(Press("แก้ประเภทเรื่อง"))
    officer.last_buttons = {"x": f"s.cat.{case_id}.roads"}
    assert "ไม่พบประเภทนี้" in await officer.say(Press("x"))
    await desk.add_staff("601", "legal")
    informed = desk.chat(STAFF_CHATS["legal"], chat_type="group", user_id="601")
    informed.last_buttons = {"x": f"s.cat.{case_id}.abuse"}
    assert "ไม่มีสิทธิ์" in await informed.say(Press("x")) and stale
    async with desk.db.session() as s:
        assert (await s.get(Case, case_id)).category == "procurement"  # type: ignore[union-attr]
