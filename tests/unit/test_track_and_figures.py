"""Following a case from any device (/track) and the open figures (/stats/<org>), issue 16: over
HTTP against the real engine, use cases and database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.inbox import Inbox
from bot.web import build_web_app
from handlers.cases import staff_cases as staff
from handlers.cases.submit import ReporterInfo, submit_report
from kernel.draft import Draft
from storage.models import AuditHead, Case
from tests.support.clock import Clock
from tests.support.inputs import Press
from tests.support.web import WebCitizen, file_tip_off
from tests.unit.conftest import STAFF_CHATS, Desk
from tests.unit.test_use_cases import OFFICER, _run


@pytest.fixture
async def app(desk: Desk) -> Any:
    return build_web_app(desk.services, Inbox(desk.db, desk.services.vault))


@pytest.fixture
async def client(app: Any) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(app)) as c:
        yield c


async def _fresh(client: TestClient[Any, Any]) -> TestClient[Any, Any]:
    """Another device on the same server: its own cookies (close its session only)."""
    other = TestClient(client.server)
    await other.start_server()  # already running: nothing to start
    return other


def _notice(page: str) -> str:
    found = re.search(r'id="notice"[^>]*>([^<]*)<', page)
    return found.group(1) if found else ""


async def _look_up(client: TestClient[Any, Any], reference: str, code: str) -> tuple[int, str]:
    response = await client.post("/track", data={"reference": reference, "code": code})
    return response.status, await response.text()


async def test_a_web_reporter_reads_the_question_on_another_device_answers_it_and_staff_see_it(
    desk: Desk, app: Any, client: TestClient[Any, Any]
) -> None:
    await desk.add_staff("501", "personnel", name="สมศรี")
    citizen = WebCitizen(client)
    reference, code = await file_tip_off(citizen)
    async with desk.db.session() as s:
        case_id = (await s.execute(select(Case.id))).scalar_one()
    await _run(desk, lambda w: staff.accept_case(w, case_id=case_id, by=OFFICER))
    await _run(desk, lambda w: staff.ask_reporter(w, case_id=case_id, by=OFFICER, question="ร้านใดเรียกเงิน"))
    assert "ร้านใดเรียกเงิน" in await citizen.open()  # it waits on the chat page too

    phone = await _fresh(client)
    try:
        status, page = await _look_up(phone, reference, "0000 0000 0000 0000")
        assert status == 404 and "ไม่พบเรื่อง" in _notice(page) and reference in page  # the reference is kept
        status, page = await _look_up(phone, reference.lower(), code)
        assert status == 200 and "คำถามจากเจ้าหน้าที่" in page and "ร้านใดเรียกเงิน" in page
        assert 'id="question-waiting"' in page and code not in page and code.replace(" ", "") not in page
        [cookie] = [c for c in phone.session.cookie_jar if c.key == "track"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        answered = await phone.post("/track/add", data={"text": "ร้านข้างตลาดเช้า"})
        page = await answered.text()
        assert "ส่งถึงเจ้าหน้าที่แล้ว" in _notice(page) and "คำตอบของท่าน" in page and "ร้านข้างตลาดเช้า" in page
    finally:
        await phone.session.close()
    async with desk.db.session() as s:
        assert (await s.get(Case, case_id)).status == "investigating"  # type: ignore[union-attr]
    await desk.dispatcher.drain()
    assert any("ร้านข้างตลาดเช้า" in r.text for r in desk.sender.to(STAFF_CHATS["personnel"]))


async def test_withdraw_and_a_forged_or_ended_pass(
    desk: Desk, app: Any, client: TestClient[Any, Any], clock: Clock
) -> None:
    await desk.add_staff("501", "personnel", name="สมศรี")
    reference, code = await file_tip_off(WebCitizen(client))
    phone = await _fresh(client)
    try:
        await _look_up(phone, reference, code)
        page = await (await phone.post("/track/withdraw", data={"confirm": "yes"})).text()
        assert "ถอนเรื่องแล้ว" in _notice(page) and "ท่านถอนเรื่อง" in page and 'id="add-form"' not in page
        phone.session.cookie_jar.clear()
        phone.session.cookie_jar.update_cookies({"track": "1.99999999999.forged"}, phone.make_url("/track"))
        page = await (await phone.get("/track")).text()
        assert "30 นาที" in _notice(page) and 'id="track-form"' in page
        await _look_up(phone, reference, code)
        clock.advance(minutes=31)  # the pass ends
        page = await (await phone.get("/track")).text()
        assert "30 นาที" in _notice(page)
    finally:
        await phone.session.close()


async def _accepted_tip_off(desk: Desk, client: TestClient[Any, Any]) -> tuple[str, str, int]:
    """An anonymous tip-off filed on the web chat and accepted by personnel: (reference, code, case id)."""
    await desk.add_staff("501", "personnel", name="สมศรี")
    reference, code = await file_tip_off(WebCitizen(client))
    async with desk.db.session() as s:
        case_id = (await s.execute(select(Case.id))).scalar_one()
    await _run(desk, lambda w: staff.accept_case(w, case_id=case_id, by=OFFICER))
    return reference, code, case_id


async def test_a_closed_case_is_rated_once_from_the_tracking_page(
    desk: Desk, app: Any, client: TestClient[Any, Any]
) -> None:
    reference, code, case_id = await _accepted_tip_off(desk, client)
    await _run(
        desk,
        lambda w: staff.close_case(
            w, case_id=case_id, by=OFFICER, outcome="resolved", public_note="ตรวจสอบแล้ว"
        ),
    )
    phone = await _fresh(client)
    try:
        _, page = await _look_up(phone, reference, code)
        assert 'id="rate-form"' in page and "ตรวจสอบแล้ว" in page
        page = await (await phone.post("/track/rate", data={"score": "4"})).text()
        assert "ขอบคุณสำหรับการให้คะแนน" in _notice(page) and 'id="rate-form"' not in page
        again = await phone.post("/track/rate", data={"score": "5"})
        assert again.status == 409 and "ท่านประเมินเรื่องนี้ไปแล้ว" in _notice(await again.text())
    finally:
        await phone.session.close()
    async with desk.db.session() as s:
        assert (await s.get(Case, case_id)).rating == 4  # type: ignore[union-attr]


async def test_many_tries_from_one_address_are_slowed_and_never_lock_the_reporter_out(
    desk: Desk, app: Any, client: TestClient[Any, Any]
) -> None:
    reference, code = await file_tip_off(WebCitizen(client))
    statuses = [(await _look_up(client, reference, "1111 1111 1111 1111"))[0] for _ in range(21)]
    assert statuses[:20] == [404] * 20 and statuses[20] == 429  # the address's 20 tries in 10 minutes
    # nothing was counted against the case: its reporter, anywhere else, is not locked out
    answer = await desk.chat("4004").say(f"/status {reference} {code}")
    assert f"{reference} ·" in answer and "ได้รับเรื่องของท่านแล้ว" in answer


async def _reports(desk: Desk, kind: str, category: str, n: int) -> None:
    org = desk.services.orgs.single
    assert org is not None
    for i in range(n):
        draft = Draft.from_dict(
            {"type": kind, "concerns": "no", "category": category, "description": f"เรื่องที่ {i} " * 5}
        )
        who = ReporterInfo(channel="test", chat_id=f"9{i}", user_id=f"9{i}", lang="th")
        await _run(
            desk,
            lambda w, draft=draft, who=who: submit_report(
                w.session, w.services, org=org, draft=draft, reporter=who, now=w.now
            ),
        )


async def test_the_figures_page_hides_tip_offs_details_and_small_counts(
    desk: Desk, client: TestClient[Any, Any]
) -> None:
    await _reports(desk, "grievance", "roads", 6)
    await _reports(desk, "grievance", "water", 2)
    await _reports(desk, "corruption", "bribery", 7)
    response = await client.get("/stats/CM")
    page = await response.text()
    assert response.status == 200 and 'lang="th"' in page and "สถิติเรื่องร้องเรียน" in page
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td class=\"n\">([^<]*)</td></tr>", page)
    shown = {(section, item): value for section, item, value in rows}
    assert shown[("แยกตามประเภท", "แจ้งเบาะแสการทุจริต")] == "7"  # a count, and only a count
    assert not any(item.startswith("แจ้งเบาะแสการทุจริต:") for _, item in shown)  # no tip-off category
    grievances = sorted(v for (_, item), v in shown.items() if item.startswith("ร้องเรียน/ร้องทุกข์:"))
    assert grievances == ["&lt; 5", "6"]  # roads 6, water 2: hidden
    async with desk.db.session() as s:
        head = await s.get(AuditHead, 1)
    assert head is not None and f"{head.length}:{head.last_hash}" in page
    csv = await client.get("/stats/CM/figures.csv?lang=en")
    body = await csv.read()
    assert body.startswith("\ufeff".encode()) and b"Corruption tip-off" in body and b"< 5" in body
    assert (await client.get("/stats/NOWHERE")).status == 404


async def test_status_in_any_chat_shows_the_whole_history_and_its_buttons_act_by_the_code(
    desk: Desk, client: TestClient[Any, Any]
) -> None:
    reference, code, case_id = await _accepted_tip_off(desk, client)
    await _run(desk, lambda w: staff.ask_reporter(w, case_id=case_id, by=OFFICER, question="ร้านใดเรียกเงิน"))
    other = desk.chat("5005")  # a Telegram account that did not report it
    shown = await other.say(f"/status {reference} {code}")
    assert f"{reference} ·" in shown and "คำถามจากเจ้าหน้าที่" in shown and "ร้านใดเรียกเงิน" in shown
    assert "ส่งข้อความ รูปภาพ หรือเอกสาร" in await other.say(Press("เพิ่มข้อมูล"))
    assert "ส่งถึงเจ้าหน้าที่แล้ว" in await other.say("ร้านข้างตลาดเช้า")
    async with desk.db.session() as s:
        assert (await s.get(Case, case_id)).status == "investigating"  # type: ignore[union-attr]
