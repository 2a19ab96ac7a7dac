"""Every use case on a case, and the plan's record_progress, called directly: no chat turn, no channel.

The allowed actor gets the state change, one audit event and the outbox rows; an outsider, a clerk
of another division, a removed staff member or another account are refused with nothing written;
an action the case's state does not allow is refused too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from handlers.cases import reporter_cases as reporter
from handlers.cases import staff_cases as staff
from handlers.cases.refusals import BadInput, NotAllowed, NotFound, WrongState
from handlers.cases.submit import ReporterInfo, submit_report
from handlers.core.work import ReporterAccount, StaffAccount, Work
from handlers.rounds import reporting
from kernel.draft import Draft
from kernel.messages import FileRef
from storage.audit import verify_chain
from storage.models import (
    Attachment,
    Case,
    CaseDivision,
    CaseEvent,
    Division,
    OutboxMessage,
    PlanItem,
    ProgressReport,
)
from storage.plan import upsert_item
from tests.unit.conftest import Desk

OFFICER = StaffAccount("test", "501")  # personnel: responsible for the tip-off
LEGAL_CLERK = StaffAccount("test", "502")  # legal: only informed of it
COORDINATOR = StaffAccount("test", "503")
OUTSIDER = StaffAccount("test", "999")
REPORTER = ReporterAccount("test", "1001")
SOMEONE_ELSE = ReporterAccount("test", "2002")
T = TypeVar("T")


@dataclass(frozen=True)
class Written:
    status: str
    events: int
    outbox: int


async def _written(desk: Desk, case_id: int) -> Written:
    async with desk.db.session() as s:
        status = (await s.execute(select(Case.status).where(Case.id == case_id))).scalar_one()
        events = (await s.execute(select(func.count()).select_from(CaseEvent))).scalar_one()
        outbox = (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
        assert (await verify_chain(s, desk.services.vault)).ok
    return Written(status, events, outbox)


async def _run(desk: Desk, call: Callable[[Work], Awaitable[T]]) -> T:
    """One unit of work: the call, then the commit its door would make."""
    async with desk.db.session(write=True) as s:
        result = await call(Work(s, desk.services, desk.services.clock()))
        await s.commit()
    return result


async def _tip_off(desk: Desk) -> int:
    """An anonymous tip-off about personnel: personnel responsible, legal informed; its cards posted."""
    await desk.add_staff("501", "personnel", name="สมศรี")
    await desk.add_staff("502", "legal")
    await desk.add_staff("503", None, role="coordinator")
    org = desk.services.orgs.single
    assert org is not None
    draft = Draft.from_dict(
        {"type": "corruption", "concerns": "yes", "category": "bribery", "description": "เรียกรับเงินค่าอนุญาต"}
    )
    who = ReporterInfo(channel="test", chat_id="1001", user_id="1001", lang="th")
    submitted = await _run(
        desk, lambda w: submit_report(w.session, w.services, org=org, draft=draft, reporter=who, now=w.now)
    )
    await desk.dispatcher.drain()
    return submitted.case_id


async def _to_state(desk: Desk, case_id: int, state: str) -> None:
    steps: dict[str, list[Callable[[Work], Awaitable[object]]]] = {
        "received": [],
        "accepted": [lambda w: staff.accept_case(w, case_id=case_id, by=OFFICER)],
        "awaiting_info": [
            lambda w: staff.accept_case(w, case_id=case_id, by=OFFICER),
            lambda w: staff.ask_reporter(w, case_id=case_id, by=OFFICER, question="ร้านใด"),
        ],
        "resolved": [
            lambda w: staff.accept_case(w, case_id=case_id, by=OFFICER),
            lambda w: staff.close_case(
                w, case_id=case_id, by=OFFICER, outcome="resolved", public_note="ลงโทษทางวินัยแล้ว"
            ),
        ],
    }
    for step in steps[state]:
        await _run(desk, step)
    await desk.dispatcher.drain()


StaffCall = Callable[[Work, int, StaffAccount], Awaitable[object]]
# each staff use case, the state it is tried from, and the state it leaves
STAFF_USE_CASES: dict[str, tuple[StaffCall, str, str]] = {
    "accept_case": (lambda w, c, by: staff.accept_case(w, case_id=c, by=by), "received", "accepted"),
    "start_investigation": (
        lambda w, c, by: staff.start_investigation(w, case_id=c, by=by), "accepted", "investigating"
    ),
    "ask_reporter": (
        lambda w, c, by: staff.ask_reporter(w, case_id=c, by=by, question="ร้านใด"),
        "accepted", "awaiting_info",
    ),
    "send_update": (
        lambda w, c, by: staff.send_update(w, case_id=c, by=by, message="กำลังสอบ"), "accepted", "accepted"
    ),
    "transfer_case": (
        lambda w, c, by: staff.transfer_case(w, case_id=c, by=by, to="audit", reason="งานตรวจสอบ"),
        "accepted", "accepted",
    ),
    "close_case": (
        lambda w, c, by: staff.close_case(w, case_id=c, by=by, outcome="forwarded", public_note="ส่ง ป.ป.ช."),
        "accepted", "forwarded",
    ),
    "add_internal_note": (
        lambda w, c, by: staff.add_internal_note(w, case_id=c, by=by, note="โทรหาผู้แจ้งไม่ติด"),
        "received", "received",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", STAFF_USE_CASES)
async def test_the_responsible_division_acts_and_everything_follows(desk: Desk, name: str) -> None:
    call, start, end = STAFF_USE_CASES[name]
    case_id = await _tip_off(desk)
    await _to_state(desk, case_id, start)
    before = await _written(desk, case_id)
    changed = await _run(desk, lambda w: call(w, case_id, OFFICER))
    after = await _written(desk, case_id)
    assert after.status == end and getattr(changed, "status", None) == end
    assert after.events == before.events + 1  # one audit event, the chain intact
    edits = 2  # both posted cards (personnel's and legal's) show who did what
    # the reporter hears of every public step, and gets the stars after a close
    reporter_told = 0 if name == "add_internal_note" else 1 + (name == "close_case")
    # audit has no chat yet: its card waits for one and the coordinators are told
    new_card = 2 if name == "transfer_case" else 0
    assert after.outbox - before.outbox == edits + reporter_told + new_card
    async with desk.db.session() as s:
        event = (await s.execute(select(CaseEvent).order_by(CaseEvent.seq.desc()).limit(1))).scalar_one()
        assert event.actor.startswith("staff:") and event.case_id == case_id


async def test_a_transfer_moves_the_responsibility(desk: Desk) -> None:
    case_id = await _tip_off(desk)
    await _to_state(desk, case_id, "accepted")
    await _run(
        desk, lambda w: staff.transfer_case(w, case_id=case_id, by=OFFICER, to="audit", reason="งานตรวจ")
    )
    async with desk.db.session() as s:
        rows = await s.execute(
            select(Division.code, CaseDivision.role).join(CaseDivision).where(CaseDivision.case_id == case_id)
        )
        assert dict(rows.all()) == {"audit": "primary", "legal": "informed"}
        case = await s.get(Case, case_id)
        assert case is not None and case.primary_division_ids == str(
            desk.services.directory.division_ids[("CM", "audit")]
        )
    with pytest.raises(NotAllowed):  # personnel handed it over: it no longer acts on it
        await _run(desk, lambda w: staff.send_update(w, case_id=case_id, by=OFFICER, message="x"))


@pytest.mark.parametrize("name", STAFF_USE_CASES)
@pytest.mark.parametrize("who", ["outsider", "another division", "removed"])
async def test_only_the_responsible_division_or_a_coordinator_may_act(
    desk: Desk, name: str, who: str
) -> None:
    call, start, _end = STAFF_USE_CASES[name]
    case_id = await _tip_off(desk)
    await _to_state(desk, case_id, start)
    actor = {"outsider": OUTSIDER, "another division": LEGAL_CLERK, "removed": OFFICER}[who]
    if who == "removed":
        assert await desk.remove_staff("501")
    before = await _written(desk, case_id)
    with pytest.raises(NotAllowed) as refused:
        await _run(desk, lambda w: call(w, case_id, actor))
    assert refused.value.key == "staff.not_allowed"
    assert await _written(desk, case_id) == before  # nothing written


@pytest.mark.parametrize("name", [n for n in STAFF_USE_CASES if n != "add_internal_note"])
async def test_a_closed_case_refuses_every_action_but_a_note(desk: Desk, name: str) -> None:
    call, _start, _end = STAFF_USE_CASES[name]
    case_id = await _tip_off(desk)
    await _to_state(desk, case_id, "resolved")
    before = await _written(desk, case_id)
    with pytest.raises(WrongState) as refused:
        await _run(desk, lambda w: call(w, case_id, COORDINATOR))
    assert refused.value.key == "lifecycle.not_allowed" and refused.value.values["state"] == "resolved"
    assert await _written(desk, case_id) == before
    # a note is still allowed, and a coordinator may add it
    await _run(desk, lambda w: staff.add_internal_note(w, case_id=case_id, by=COORDINATOR, note="ปิดแล้ว"))


async def test_bad_input_is_refused_with_the_reason(desk: Desk) -> None:
    case_id = await _tip_off(desk)
    await _to_state(desk, case_id, "accepted")
    before = await _written(desk, case_id)
    cases: list[tuple[Callable[[Work], Awaitable[object]], str]] = [
        (lambda w: staff.send_update(w, case_id=case_id, by=OFFICER, message=" "), "lifecycle.note_required"),
        (lambda w: staff.send_update(w, case_id=case_id, by=OFFICER, message="ก" * 2001), "errors.too_long"),
        (lambda w: staff.transfer_case(w, case_id=case_id, by=OFFICER, to="nowhere", reason="x"),
         "staff.unknown_division"),
        (lambda w: staff.transfer_case(w, case_id=case_id, by=OFFICER, to="personnel", reason="x"),
         "staff.already_assigned"),
        (lambda w: staff.transfer_case(w, case_id=case_id, by=OFFICER, to="office", reason="x"),
         "staff.no_corruption_to_general"),
    ]  # fmt: skip
    for call, key in cases:
        with pytest.raises(BadInput) as refused:
            await _run(desk, call)
        assert refused.value.key == key
    with pytest.raises(NotFound):
        await _run(desk, lambda w: staff.accept_case(w, case_id=case_id + 100, by=OFFICER))
    assert await _written(desk, case_id) == before


async def test_viewing_an_anonymous_case_is_audited_for_coordinators(desk: Desk) -> None:
    case_id = await _tip_off(desk)
    view = await _run(desk, lambda w: staff.view_case(w, reference="cm-2569-000001", by=OFFICER))
    assert view.case.id == case_id and [e.kind for e in view.history] == ["received"]
    before = await _written(desk, case_id)
    await _run(desk, lambda w: staff.view_case(w, reference="CM-2569-000001", by=COORDINATOR))
    assert (await _written(desk, case_id)).events == before.events + 1  # "viewed"
    legal_chat = [(desk.services.directory.org_ids["CM"], "division:office")]
    with pytest.raises(NotAllowed):  # not in a chat of one of its divisions
        await _run(
            desk, lambda w: staff.view_case(w, reference="CM-2569-000001", by=COORDINATOR, group=legal_chat)
        )
    with pytest.raises(NotAllowed):
        await _run(desk, lambda w: staff.view_case(w, reference="CM-2569-000001", by=LEGAL_CLERK))


# --- the reporter -------------------------------------------------------------------------


async def test_the_reporter_answers_adds_information_and_a_file(desk: Desk) -> None:
    case_id = await _tip_off(desk)
    await _to_state(desk, case_id, "awaiting_info")
    before = await _written(desk, case_id)
    answered = await _run(desk, lambda w: reporter.answer(w, case_id=case_id, by=REPORTER, text="ร้านรุ่งเรือง"))
    after = await _written(desk, case_id)
    assert answered.action == "reply" and after.status == "investigating"
    assert after.events == before.events + 1
    assert after.outbox - before.outbox == 2 + 2  # two card edits, the answer to both divisions' chats
    photo = FileRef(kind="photo", file_id="receipt-9", size=1000)
    added = await _run(desk, lambda w: reporter.add_information(w, case_id=case_id, by=REPORTER, file=photo))
    assert added.action == "add_info"
    async with desk.db.session() as s:
        files = (await s.execute(select(Attachment.file_id).where(Attachment.case_id == case_id))).scalars()
        assert list(files) == ["receipt-9"]
    with pytest.raises(WrongState):  # nothing was asked now
        await _run(desk, lambda w: reporter.answer(w, case_id=case_id, by=REPORTER, text="อีก"))
    too_big = FileRef(kind="document", file_id="big", size=10**9)
    with pytest.raises(BadInput) as refused:
        await _run(desk, lambda w: reporter.add_information(w, case_id=case_id, by=REPORTER, file=too_big))
    assert refused.value.key == "errors.file_too_large"


async def test_the_reporter_withdraws_then_cannot_add(desk: Desk) -> None:
    case_id = await _tip_off(desk)
    before = await _written(desk, case_id)
    withdrawn = await _run(desk, lambda w: reporter.withdraw(w, case_id=case_id, by=REPORTER))
    after = await _written(desk, case_id)
    assert withdrawn.status == after.status == "withdrawn" and after.events == before.events + 1
    # both cards edited; personnel and legal told in their chats
    assert after.outbox - before.outbox == 2 + 2
    for call in (
        lambda w: reporter.add_information(w, case_id=case_id, by=REPORTER, text="เพิ่ม"),
        lambda w: reporter.withdraw(w, case_id=case_id, by=REPORTER),
        lambda w: reporter.rate(w, case_id=case_id, by=REPORTER, score=5),
    ):
        with pytest.raises(WrongState):
            await _run(desk, call)
    assert await _written(desk, case_id) == after


async def test_the_reporter_rates_a_closed_case_once(desk: Desk) -> None:
    case_id = await _tip_off(desk)
    with pytest.raises(WrongState):  # still open
        await _run(desk, lambda w: reporter.rate(w, case_id=case_id, by=REPORTER, score=4))
    await _to_state(desk, case_id, "resolved")
    await _run(desk, lambda w: reporter.rate(w, case_id=case_id, by=REPORTER, score=4))
    await _run(desk, lambda w: reporter.comment_rating(w, case_id=case_id, by=REPORTER, comment="รวดเร็ว"))
    with pytest.raises(WrongState) as refused:
        await _run(desk, lambda w: reporter.rate(w, case_id=case_id, by=REPORTER, score=1))
    assert refused.value.key == "reporter.already_rated"
    async with desk.db.session() as s:
        case = await s.get(Case, case_id)
        assert case is not None and case.rating == 4
        kinds = (await s.execute(select(CaseEvent.kind).where(CaseEvent.case_id == case_id))).scalars()
        assert list(kinds)[-2:] == ["rating", "rating"]


REPORTER_CALLS: dict[str, Callable[[Work, int], Awaitable[object]]] = {
    "own_case": lambda w, c: reporter.own_case(w, case_id=c, by=SOMEONE_ELSE),
    "answer": lambda w, c: reporter.answer(w, case_id=c, by=SOMEONE_ELSE, text="x"),
    "add_information": lambda w, c: reporter.add_information(w, case_id=c, by=SOMEONE_ELSE, text="x"),
    "withdraw": lambda w, c: reporter.withdraw(w, case_id=c, by=SOMEONE_ELSE),
    "rate": lambda w, c: reporter.rate(w, case_id=c, by=SOMEONE_ELSE, score=5),
    "comment_rating": lambda w, c: reporter.comment_rating(w, case_id=c, by=SOMEONE_ELSE, comment="x"),
}


@pytest.mark.parametrize("name", REPORTER_CALLS)
async def test_another_account_is_refused_every_reporter_use_case(desk: Desk, name: str) -> None:
    case_id = await _tip_off(desk)
    await _to_state(desk, case_id, "awaiting_info")
    before = await _written(desk, case_id)
    with pytest.raises(NotAllowed) as refused:
        await _run(desk, lambda w: REPORTER_CALLS[name](w, case_id))
    assert refused.value.key == "reporter.not_yours"
    assert await _written(desk, case_id) == before


# --- the plan's progress ------------------------------------------------------------------


async def _plan_item(desk: Desk, fiscal_years: str = "2569") -> int:
    """Item 1.1.01 of personnel, in the plan of these fiscal years."""
    await desk.add_staff("501", "personnel")
    await desk.add_staff("502", "legal")
    await desk.add_staff("503", None, role="coordinator")
    d = desk.services.directory
    async with desk.db.session() as s:
        await upsert_item(s, org_id=d.org_ids["CM"], code="1.1.01", now=desk.services.clock(), values={
            "title_th": "อบรมจริยธรรม", "title_en": "Ethics training", "dimension": 1,
            "division_id": d.division_ids[("CM", "personnel")], "fiscal_years": fiscal_years, "budget": None,
        })  # fmt: skip
        await s.commit()
        return (await s.execute(select(PlanItem.id))).scalar_one()


async def test_the_division_records_progress_with_a_note_and_evidence(desk: Desk) -> None:
    item_id = await _plan_item(desk)
    recorded = await _run(
        desk,
        lambda w: reporting.record_progress(
            w, item_id=item_id, fiscal_year=2569, round_name="6m", status="in_progress", by=OFFICER
        ),
    )
    assert recorded.item_code == "1.1.01" and recorded.status == "in_progress"
    await _run(
        desk,
        lambda w: reporting.add_progress_note(
            w, report_id=recorded.report_id, by=OFFICER, note="อบรมแล้ว 2 รุ่น"
        ),
    )
    photo = FileRef(kind="photo", file_id="training-1")
    count = await _run(
        desk,
        lambda w: reporting.add_progress_evidence(w, report_id=recorded.report_id, by=OFFICER, file=photo),
    )
    assert count == 1
    # a coordinator reports for any division
    await _run(
        desk,
        lambda w: reporting.record_progress(
            w, item_id=item_id, fiscal_year=2569, round_name="6m", status="done", by=COORDINATOR
        ),
    )
    async with desk.db.session() as s:
        reports = (await s.execute(select(ProgressReport).order_by(ProgressReport.id))).scalars().all()
        assert [(r.status, r.actor) for r in reports] == [("in_progress", "staff:1"), ("done", "staff:3")]
        assert reports[0].note == "อบรมแล้ว 2 รุ่น" and "training-1" in (reports[0].evidence_json or "")


@pytest.mark.parametrize("who", ["outsider", "another division", "removed"])
async def test_only_the_items_division_or_a_coordinator_records_progress(desk: Desk, who: str) -> None:
    item_id = await _plan_item(desk)
    actor = {"outsider": OUTSIDER, "another division": LEGAL_CLERK, "removed": OFFICER}[who]
    if who == "removed":
        await desk.remove_staff("501")
    with pytest.raises(NotAllowed):
        await _run(
            desk,
            lambda w: reporting.record_progress(
                w, item_id=item_id, fiscal_year=2569, round_name="6m", status="done", by=actor
            ),
        )
    async with desk.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(ProgressReport))).scalar_one() == 0


async def test_progress_outside_the_items_years_or_on_someone_elses_report_is_refused(desk: Desk) -> None:
    item_id = await _plan_item(desk)
    with pytest.raises(WrongState):  # the item is not in the plan of 2570
        await _run(
            desk,
            lambda w: reporting.record_progress(
                w, item_id=item_id, fiscal_year=2570, round_name="6m", status="done", by=OFFICER
            ),
        )
    with pytest.raises(NotFound):
        await _run(
            desk,
            lambda w: reporting.record_progress(
                w, item_id=item_id + 9, fiscal_year=2569, round_name="6m", status="done", by=OFFICER
            ),
        )
    recorded = await _run(
        desk,
        lambda w: reporting.record_progress(
            w, item_id=item_id, fiscal_year=2569, round_name="12m", status="done", by=OFFICER
        ),
    )
    with pytest.raises(NotAllowed):  # only who reported adds the note
        await _run(
            desk,
            lambda w: reporting.add_progress_note(w, report_id=recorded.report_id, by=COORDINATOR, note="x"),
        )


async def test_check_action_tells_a_door_what_an_action_needs_and_writes_nothing(desk: Desk) -> None:
    case_id = await _tip_off(desk)
    await _to_state(desk, case_id, "accepted")
    before = await _written(desk, case_id)
    check = await _run(desk, lambda w: staff.check_action(w, case_id=case_id, by=OFFICER, action="transfer"))
    assert check.reference == "CM-2569-000001" and check.needs_note and check.public
    # not the general grievance chat (a corruption tip), nor the division already responsible
    assert "personnel" not in check.transfer_targets and "office" not in check.transfer_targets
    assert "audit" in check.transfer_targets
    note = await _run(desk, lambda w: staff.check_action(w, case_id=case_id, by=OFFICER, action="note"))
    assert note.needs_note and not note.public and note.transfer_targets == ()
    with pytest.raises(NotAllowed):
        await _run(desk, lambda w: staff.check_action(w, case_id=case_id, by=LEGAL_CLERK, action="ask"))
    with pytest.raises(WrongState):
        await _run(desk, lambda w: staff.check_action(w, case_id=case_id, by=OFFICER, action="accept"))
    with pytest.raises(NotFound):
        await _run(desk, lambda w: staff.check_action(w, case_id=case_id, by=OFFICER, action="delete"))
    assert await _written(desk, case_id) == before
