"""The web desk over real HTTP (aiohttp's test server) on a real SQLite file: signing in by a
one-time link, the inbox, a case page, and a press that is the same use case as the chat button."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text

from bot.inbox import Inbox
from bot.web import RouteAccessLogger, build_web_app
from handlers.cases import reporter_cases as reporter
from handlers.cases import staff_cases as staff
from handlers.cases.desk_inbox import InboxFilters
from handlers.cases.desk_sessions import second_step_required
from handlers.cases.privacy import erase_personal_data
from handlers.cases.search import index_cases
from handlers.cases.submit import ReporterInfo, submit_report
from handlers.core.work import ReporterAccount, StaffAccount, Work
from kernel.draft import Draft
from kernel.org_config import DeskConfig
from kernel.org_files import default_config_path
from storage.audit import case_history
from storage.models import Case, ProgressReport
from storage.staff import StaffMember, add_staff
from tests.unit.conftest import STAFF_CHATS, Desk
from tests.unit.test_use_cases import _plan_item, _tip_off

REFERENCE = "CM-2569-000001"


@pytest.fixture
async def client(desk: Desk) -> AsyncIterator[TestClient[object, object]]:
    app = build_web_app(desk.services, Inbox(desk.db, desk.services.vault))
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
def client_of() -> Any:
    """A fresh client (its own cookies) of a desk's web app."""

    def make(desk: Desk) -> TestClient[object, object]:
        return TestClient(TestServer(build_web_app(desk.services, Inbox(desk.db, desk.services.vault))))

    return make


async def _link(desk: Desk, user_id: str) -> str:
    """What a staff member gets by sending /desk to the bot in a private chat."""
    reply = await desk.chat(user_id).say("/desk")
    found = re.search(r"/desk/login/([\w-]+)", reply)
    assert found, reply
    return found.group(1)


async def _sign_in(client: TestClient[object, object], desk: Desk, user_id: str) -> None:
    link = await _link(desk, user_id)
    page = await client.get(f"/desk/login/{link}")  # a link preview does not use it up
    assert page.status == 200 and "เข้าสู่ระบบ" in await page.text()
    signed = await client.post(f"/desk/login/{link}", allow_redirects=False)
    assert signed.status == 303 and signed.headers["Location"] == "/desk/"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/desk/" in cookie


async def _csrf(client: TestClient[object, object], path: str) -> str:
    page = await client.get(path)
    assert page.status == 200
    found = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert found
    return found.group(1)


async def _road_grievance(work: Work) -> None:
    """CM-2569-000002: a grievance about a road, for the office division."""
    org = work.services.orgs.single
    assert org is not None
    draft = Draft.from_dict(
        {"type": "grievance", "concerns": "no", "category": "roads", "description": "ถนนพัง"}
    )
    who = ReporterInfo(channel="test", chat_id="1002", user_id="1002", lang="th")
    await submit_report(work.session, work.services, org=org, draft=draft, reporter=who, now=work.now)


async def _status(desk: Desk) -> str:
    async with desk.db.session() as s:
        return (await s.execute(select(Case.status))).scalar_one()


async def test_a_clerk_signs_in_sees_the_case_and_accepts_it_as_the_chat_button_would(
    desk: Desk, client: TestClient[object, object]
) -> None:
    await _tip_off(desk)
    await _sign_in(client, desk, "501")
    inbox = await client.get("/desk/")
    assert inbox.status == 200 and REFERENCE in await inbox.text()
    assert (
        inbox.headers["X-Frame-Options"] == "DENY"
        and "script-src 'self'" in inbox.headers["Content-Security-Policy"]
    )
    page = await client.get(f"/desk/case/{REFERENCE}")
    text = await page.text()
    assert "เรียกรับเงินค่าอนุญาต" in text and "ไม่เปิดเผยชื่อ" in text
    assert 'action="/desk/case/1/accept"' in text and 'action="/desk/case/1/resolve"' not in text
    csrf = await _csrf(client, f"/desk/case/{REFERENCE}")

    refused = await client.post("/desk/case/1/accept", data={"csrf": "forged"}, allow_redirects=False)
    assert refused.status == 403 and await _status(desk) == "received"
    elsewhere = await client.post(
        "/desk/case/1/accept",
        data={"csrf": csrf},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert elsewhere.status == 403 and await _status(desk) == "received"

    accepted = await client.post("/desk/case/1/accept", data={"csrf": csrf})
    assert accepted.status == 200 and "บันทึกแล้ว" in await accepted.text()
    assert await _status(desk) == "accepted"
    await desk.dispatcher.drain()
    assert "ได้รับการตอบรับแล้ว" in desk.sender.to("1001")[-1].text  # the reporter, as from the chat
    edits = [r for chat, r in desk.sender.sent if r.edit_message_id and chat == STAFF_CHATS["personnel"]]
    assert edits and "สถานะ: ตอบรับแล้ว" in edits[-1].text  # the group's card shows it

    asked = await client.post("/desk/case/1/ask", data={"csrf": csrf, "note": "ร้านใดเรียกเงิน"})
    assert asked.status == 200 and await _status(desk) == "awaiting_info"
    await desk.dispatcher.drain()
    assert "ร้านใดเรียกเงิน" in desk.sender.to("1001")[-1].text
    empty = await client.post("/desk/case/1/update", data={"csrf": csrf, "note": " "})
    assert empty.status == 200 and "ต้องมีข้อความ" in await empty.text()  # the reason, nothing written
    async with desk.db.session() as s:
        await reporter.answer(
            Work(s, desk.services, desk.services.clock()), case_id=1, by=ReporterAccount("test", "1001"),
            text="ร้านวัสดุก่อสร้างท้ายซอย",
        )  # fmt: skip
        await s.commit()
    history = await (await client.get(f"/desk/case/{REFERENCE}")).text()
    conversation = history[history.index('id="conversation"') : history.index('id="history"')]
    # the conversation with the reporter, in order: their report, our question, their answer
    said = [conversation.index(x) for x in ("เรียกรับเงินค่าอนุญาต", "ร้านใดเรียกเงิน", "ร้านวัสดุก่อสร้างท้ายซอย")]
    assert said == sorted(said) and conversation.count("from-reporter") == 2


async def test_another_divisions_case_is_not_found_and_links_work_once(
    desk: Desk, client: TestClient[object, object]
) -> None:
    await _tip_off(desk)
    link = await _link(desk, "502")  # legal is only informed of the tip-off
    assert (await client.post(f"/desk/login/{link}", allow_redirects=False)).status == 303
    assert (await client.get(f"/desk/case/{REFERENCE}")).status == 404
    assert (await client.post("/desk/case/1/accept", data={"csrf": "x"})).status in (403, 404)
    again = await client.post(f"/desk/login/{link}")
    assert "ลิงก์นี้ใช้ไม่ได้" in await again.text()
    citizen = await desk.chat("1001").say("/desk")
    assert "ไม่มีสิทธิ์" in citizen  # only registered staff get a link


async def test_a_link_works_for_ten_minutes_only(
    desk: Desk,
    client: TestClient[object, object],
    clock,  # type: ignore[no-untyped-def]
) -> None:
    await _tip_off(desk)
    link = await _link(desk, "501")
    clock.advance(minutes=10, seconds=1)
    expired = await client.post(f"/desk/login/{link}", allow_redirects=False)
    assert expired.status == 200 and "ลิงก์นี้ใช้ไม่ได้" in await expired.text()
    fresh = await _link(desk, "501")
    clock.advance(minutes=9)
    assert (await client.post(f"/desk/login/{fresh}", allow_redirects=False)).status == 303


async def test_sessions_end_on_sign_out_removal_and_idleness(
    desk: Desk,
    client: TestClient[object, object],
    clock,  # type: ignore[no-untyped-def]
) -> None:
    await _tip_off(desk)
    await _sign_in(client, desk, "503")
    csrf = await _csrf(client, "/desk/")
    await client.post("/desk/logout", data={"csrf": csrf})
    out = await client.get("/desk/", allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/desk/signed-out"

    await _sign_in(client, desk, "503")
    clock.advance(minutes=31)
    assert (await client.get("/desk/", allow_redirects=False)).status == 303  # idle too long

    await _sign_in(client, desk, "501")
    await desk.remove_staff("501")
    assert (await client.get("/desk/", allow_redirects=False)).status == 303  # removed: out at once
    async with desk.db.session() as s:
        kinds = (await s.execute(text("SELECT kind FROM desk_access_log ORDER BY id"))).scalars().all()
    # every sign-in, sign-out and ended session is in the sign-in log
    assert kinds == ["signed_in", "signed_out", "signed_in", "session_ended", "signed_in"]


async def test_the_access_log_names_routes_never_paths(desk: Desk, caplog) -> None:  # type: ignore[no-untyped-def]
    app = build_web_app(desk.services, Inbox(desk.db, desk.services.vault))
    runner = web.AppRunner(app, access_log_class=RouteAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            async with ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/desk/login/SECRET-LINK-TOKEN") as page:
                    assert page.status == 200
    finally:
        await runner.cleanup()
    assert "GET /desk/login/{link} 200" in caplog.text
    assert "SECRET-LINK-TOKEN" not in caplog.text


async def test_wrong_links_are_counted_and_then_make_the_next_try_wait(
    desk: Desk,
    client: TestClient[object, object],
    clock,  # type: ignore[no-untyped-def]
) -> None:
    await _tip_off(desk)
    for n in range(3):
        wrong = await client.post(f"/desk/login/not-a-link-{n}")
        assert "ลิงก์นี้ใช้ไม่ได้" in await wrong.text()
    link = await _link(desk, "501")
    held = await client.post(f"/desk/login/{link}", allow_redirects=False)
    assert held.status == 200 and "หลายครั้งเกินไป" in await held.text()  # even a good link waits
    clock.advance(minutes=2)
    assert (await client.post(f"/desk/login/{link}", allow_redirects=False)).status == 303


async def test_the_inbox_filters_live_in_the_address_with_counts(
    desk: Desk,
    client: TestClient[object, object],
    clock,  # type: ignore[no-untyped-def]
) -> None:
    case_id = await _tip_off(desk)  # corruption, personnel responsible: CM-2569-000001
    async with desk.db.session() as s:
        await _road_grievance(Work(s, desk.services, clock()))
        await staff.accept_case(
            Work(s, desk.services, clock()), case_id=case_id, by=StaffAccount("test", "501")
        )
        await s.commit()

    async def shown(query: str) -> str:
        page = await client.get(f"/desk/{query}")
        assert page.status == 200
        return await page.text()

    await _sign_in(client, desk, "503")  # a coordinator sees the whole organisation
    everything = await shown("")
    assert REFERENCE in everything and "CM-2569-000002" in everything and "2 เรื่อง" in everything
    assert "ตอบรับแล้ว (1)" in everything and "รับเรื่องแล้ว (1)" in everything  # counts per state
    accepted = await shown("?status=accepted")
    assert REFERENCE in accepted and "CM-2569-000002" not in accepted
    roads = await shown("?report_type=grievance")
    assert "CM-2569-000002" in roads and REFERENCE not in roads
    assert REFERENCE not in await shown("?q=000002")
    assert "CM-2569-000002" in await shown("?status=made-up")  # an edited address shows everything
    assert "ไม่มีเรื่องค้างอยู่" in await shown("?due=overdue")
    clock.advance(days=3)  # the grievance was never acknowledged
    await _sign_in(client, desk, "503")
    late = await shown("?due=overdue")
    assert "CM-2569-000002" in late and "เลยกำหนด" in late

    await _sign_in(client, desk, "501")  # personnel's clerk: only personnel's cases
    mine = await shown("")
    assert REFERENCE in mine and "CM-2569-000002" not in mine


def test_a_filter_link_keeps_the_others_and_starts_at_page_one() -> None:
    filters = InboxFilters(status="accepted", q="0001", page=3)
    assert filters.url(page=4) == "?status=accepted&q=0001&page=4"
    assert filters.url(report_type="grievance") == "?status=accepted&report_type=grievance&q=0001"


async def test_the_desk_speaks_english_for_whoever_chooses_it_and_remembers(
    desk: Desk, client: TestClient[object, object]
) -> None:
    await _tip_off(desk)
    await _sign_in(client, desk, "503")
    assert "เรื่องที่ยังดำเนินการอยู่" in await (await client.get("/desk/")).text()
    csrf = await _csrf(client, "/desk/")
    english = await client.post("/desk/lang", data={"csrf": csrf, "lang": "en"})
    text = await english.text()
    assert ("Open cases" in text and "Received" in text) or "Open cases" in text
    page = await (await client.get(f"/desk/case/{REFERENCE}")).text()
    assert "History" in page and "Accept" in page
    await _sign_in(client, desk, "503")  # a new session: still English
    assert "Open cases" in await (await client.get("/desk/")).text()
    await _sign_in(client, desk, "501")  # another person: Thai
    assert "เรื่องที่ยังดำเนินการอยู่" in await (await client.get("/desk/")).text()


async def test_coordinators_download_the_exports_of_the_cli(
    desk: Desk, client: TestClient[object, object]
) -> None:
    await _tip_off(desk)
    await _sign_in(client, desk, "503")
    page = await client.get("/desk/exports")
    assert page.status == 200 and "ดาวน์โหลด" in await page.text()
    csv_file = await client.get("/desk/exports/cases?from=2026-10-01&to=2026-12-31&format=csv")
    assert csv_file.status == 200 and "attachment" in csv_file.headers["Content-Disposition"]
    body = await csv_file.read()
    assert body.startswith("\ufeff".encode()) and REFERENCE.encode() in body
    assert "สมชาย".encode() not in body and b"1001" not in body  # no reporter data
    xlsx = await client.get("/desk/exports/stats?fiscal_year=2570&round=6m&format=xlsx")
    assert xlsx.status == 200 and (await xlsx.read()).startswith(b"PK")  # a zip: the workbook
    assert (await client.get("/desk/exports/cases?from=&to=")).status == 400
    thai = await client.get("/desk/exports/cases?from=2569-10-01&to=31/12/2569&format=csv")  # Buddhist era
    assert thai.status == 200 and await thai.read() == body
    await _sign_in(client, desk, "501")  # a division's clerk: the whole organisation is not theirs
    assert (await client.get("/desk/exports")).status == 404
    assert (await client.get("/desk/exports/cases?from=2026-10-01&to=2026-12-31")).status == 404


async def test_the_dashboard_counts_what_each_person_may_see_and_links_to_the_inbox(
    desk: Desk,
    client: TestClient[object, object],
    clock,  # type: ignore[no-untyped-def]
) -> None:
    case_id = await _tip_off(desk)
    async with desk.db.session() as s:
        work = Work(s, desk.services, clock())
        officer = StaffAccount("test", "501")
        await staff.accept_case(work, case_id=case_id, by=officer)
        await staff.close_case(work, case_id=case_id, by=officer, outcome="resolved", public_note="ลงโทษแล้ว")
        await reporter.rate(work, case_id=case_id, by=ReporterAccount("test", "1001"), score=4)
        await _road_grievance(work)
        await s.commit()
    clock.advance(days=3)  # the grievance was never acknowledged: overdue
    await _sign_in(client, desk, "503")
    board = await (await client.get("/desk/dashboard")).text()
    assert "1 เรื่อง" in board  # open: the grievance
    assert 'href="/desk/?division=office&amp;due=overdue"' in board  # overdue, linked to the inbox
    assert "4.00 จาก 5 (1 เรื่องที่ประเมิน)" in board and "ปีงบประมาณ 2570" in board
    await _sign_in(client, desk, "501")  # personnel: nothing open of theirs, no organisation figures
    mine = await (await client.get("/desk/dashboard")).text()
    assert "0 เรื่อง" in mine and "ปีงบประมาณ" not in mine and "division=office" not in mine


async def test_the_plan_page_reports_progress_with_the_same_use_case_as_the_chat(
    desk: Desk, client: TestClient[object, object]
) -> None:
    await _tip_off(desk)  # registers 501 (personnel), 502 (legal), 503 (coordinator)
    item_id = await _plan_item(desk, fiscal_years="2570")
    round_page = "/desk/plan?fiscal_year=2570&round=6m"
    await _sign_in(client, desk, "501")
    assert (await client.get("/desk/plan")).status == 200  # the nearest open round by default
    page = await (await client.get(round_page)).text()
    assert "อบรมจริยธรรม" in page and "ยังไม่รายงาน" in page and 'id="summary"' not in page
    csrf = await _csrf(client, round_page)
    form = {"csrf": csrf, "item": str(item_id), "fiscal_year": "2570", "round": "6m", "status": "done",
            "note": "อบรมแล้ว 2 รุ่น"}  # fmt: skip
    saved = await client.post("/desk/plan/report", data=form)
    assert saved.status == 200 and "บันทึกความคืบหน้าแล้ว" in await saved.text()
    async with desk.db.session() as s:
        report = (await s.execute(select(ProgressReport))).scalar_one()
        assert (report.status, report.note, report.actor) == ("done", "อบรมแล้ว 2 รุ่น", "staff:1")

    await _sign_in(client, desk, "503")  # the coordinator sees the round summary
    summary = await (await client.get(round_page)).text()
    assert 'id="summary"' in summary and "100.00" in summary
    await _sign_in(client, desk, "502")  # legal: not its item
    assert "อบรมจริยธรรม" not in await (await client.get(round_page)).text()
    csrf = await _csrf(client, round_page)
    assert (await client.post("/desk/plan/report", data={**form, "csrf": csrf})).status == 404


async def test_a_coordinator_enrols_a_second_step_and_every_sign_in_then_asks_for_a_code(
    desk: Desk,
    client: TestClient[object, object],
    clock,  # type: ignore[no-untyped-def]
) -> None:
    await _tip_off(desk)
    await _sign_in(client, desk, "503")
    enrol = await (await client.get("/desk/totp")).text()
    key = re.search(r'id="totp-key">([A-Z2-7]+)<', enrol)
    assert key and 'src="data:image/svg+xml;base64,' in enrol  # the QR code, inside the page
    csrf = await _csrf(client, "/desk/totp")
    wrong = await client.post("/desk/totp", data={"csrf": csrf, "code": "000000"})
    assert "รหัสไม่ถูกต้อง" in await wrong.text()
    code = pyotp.TOTP(key.group(1)).at(clock())
    assert (
        await client.post("/desk/totp", data={"csrf": csrf, "code": code}, allow_redirects=False)
    ).status == 303
    assert (await client.get("/desk/", allow_redirects=False)).status == 200  # this session goes on

    await _sign_in(client, desk, "503")  # enrolled: a new session waits for a code
    held = await client.get("/desk/", allow_redirects=False)
    assert held.status == 303 and held.headers["Location"] == "/desk/totp"
    assert (await client.get(f"/desk/case/{REFERENCE}", allow_redirects=False)).status == 303
    asking = await (await client.get("/desk/totp")).text()
    assert "totp-key" not in asking  # no new key: just the code
    csrf = await _csrf(client, "/desk/totp")
    clock.advance(seconds=60)
    code = pyotp.TOTP(key.group(1)).at(clock())
    assert (
        await client.post("/desk/totp", data={"csrf": csrf, "code": code}, allow_redirects=False)
    ).status == 303
    assert (await client.get("/desk/", allow_redirects=False)).status == 200

    await _sign_in(client, desk, "501")  # a division's clerk: no second step, and none to enrol
    assert (await client.get("/desk/", allow_redirects=False)).status == 200
    assert (await client.get("/desk/totp")).status == 404


async def test_wrong_codes_make_the_next_try_wait(
    desk: Desk,
    client: TestClient[object, object],
    clock,  # type: ignore[no-untyped-def]
) -> None:
    await _tip_off(desk)
    await _sign_in(client, desk, "503")
    key = re.search(r'id="totp-key">([A-Z2-7]+)<', await (await client.get("/desk/totp")).text())
    assert key
    csrf = await _csrf(client, "/desk/totp")
    for _ in range(3):
        await client.post("/desk/totp", data={"csrf": csrf, "code": "000000"})
    good = pyotp.TOTP(key.group(1)).at(clock())
    held = await client.post("/desk/totp", data={"csrf": csrf, "code": good})
    assert "หลายครั้งเกินไป" in await held.text()


def test_the_organisation_file_can_require_the_second_step_for_a_role(orgs) -> None:  # type: ignore[no-untyped-def]
    org = orgs.single
    strict = org.model_copy(update={"desk": DeskConfig(require_totp_for=["coordinator"])})
    coordinator = StaffMember(3, 1, "coordinator", "ก", frozenset())
    clerk = StaffMember(1, 1, "staff", "ข", frozenset())
    assert second_step_required(strict, coordinator) and not second_step_required(strict, clerk)
    assert not second_step_required(org, coordinator)
    assert second_step_required(org, replace(clerk, totp_enrolled=True))


async def test_a_page_that_fails_says_so_politely_and_logs_it(
    desk: Desk,
    client: TestClient[object, object],
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    await _tip_off(desk)
    await _sign_in(client, desk, "501")
    async with desk.db.engine.begin() as conn:  # a real fault: the plan's table is gone
        await conn.execute(text("DROP TABLE progress_reports"))
        await conn.execute(text("DROP TABLE plan_items"))
    failed = await client.get("/desk/plan")
    assert failed.status == 500 and "ขออภัย เกิดข้อผิดพลาด" in await failed.text()
    assert failed.headers["X-Frame-Options"] == "DENY"
    assert "desk page failed" in caplog.text
    assert (await client.get("/desk/")).status == 200  # the rest of the desk still works


JPEG = b"\xff\xd8\xff\xe0" + b"photo of the receipt " * 40
HTML_DOC = b"<html><script>alert(1)</script>a page posing as a document</html>"


async def test_evidence_is_served_to_whoever_may_see_the_case_encrypted_at_rest_and_erased_with_the_data(
    desk: Desk, client: TestClient[object, object], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    files = desk.services.files
    assert files is not None
    photo, doc = files.put(JPEG), files.put(HTML_DOC)
    await desk.add_staff("501", "personnel")
    await desk.add_staff("502", "legal")
    org = desk.services.orgs.single
    assert org is not None
    draft = Draft.from_dict(
        {
            "type": "corruption", "concerns": "yes", "category": "bribery", "description": "เรียกรับเงิน",
            "files": [
                {"kind": "photo", "file_id": "tg-photo", "sha256": photo},
                {"kind": "document", "file_id": "tg-doc", "file_name": "ใบเสร็จ.html", "sha256": doc},
                {"kind": "photo", "file_id": "tg-not-downloaded"},
            ],
        }
    )  # fmt: skip
    who = ReporterInfo(channel="test", chat_id="1001", user_id="1001", lang="th")
    async with desk.db.session() as session:
        work = Work(session, desk.services, desk.services.clock())
        await submit_report(session, desk.services, org=org, draft=draft, reporter=who, now=work.now)
        await session.commit()
    # at rest, neither file is readable
    held = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
    stored = b"".join(p.read_bytes() for p in held)
    assert b"photo of the receipt" not in stored and b"<script>" not in stored
    assert files.staged() == [] and len(held) == 2  # under the case's own key only

    await _sign_in(client, desk, "501")
    page = await (await client.get(f"/desk/case/{REFERENCE}")).text()
    assert (
        f'<img src="/desk/case/{REFERENCE}/file/1"' in page
        and f'href="/desk/case/{REFERENCE}/file/2"' in page
    )
    assert "ดูได้ในแชตเท่านั้น" in page and "/file/3" not in page  # kept by Telegram's id only
    for _ in range(2):
        shown = await client.get(f"/desk/case/{REFERENCE}/file/1")
        assert shown.status == 200 and await shown.read() == JPEG
        assert shown.content_type == "image/jpeg" and shown.headers["Content-Disposition"].startswith(
            "inline"
        )
    document = await client.get(f"/desk/case/{REFERENCE}/file/2")
    assert document.content_type == "application/octet-stream" and await document.read() == HTML_DOC
    assert document.headers["Content-Disposition"].startswith("attachment")  # never shown as our page
    assert "%E0%B8%9A" in document.headers["Content-Disposition"]  # the Thai name, encoded
    assert (await client.get(f"/desk/case/{REFERENCE}/file/3")).status == 404
    async with desk.db.session() as session:
        opened = await session.execute(text("SELECT data_json FROM case_events WHERE kind = 'file_opened'"))
        assert sorted(opened.scalars()) == ['{"file": 1}', '{"file": 2}']  # once per file and person

    # legal is only informed: no case, no file
    async with TestClient(
        TestServer(build_web_app(desk.services, Inbox(desk.db, desk.services.vault)))
    ) as other:
        await _sign_in(other, desk, "502")
        assert (await other.get(f"/desk/case/{REFERENCE}/file/1")).status == 404

    # erasing the reporter's data deletes the bytes too
    async with desk.db.session() as session:
        work = Work(session, desk.services, desk.services.clock())
        case = (await session.execute(select(Case))).scalar_one()
        await erase_personal_data(work, case, reason="request")
        await session.commit()
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []
    assert (await client.get(f"/desk/case/{REFERENCE}/file/1")).status == 404


async def _staff_id(desk: Desk, user_id: str) -> int:
    async with desk.db.session() as s:
        found = await s.execute(text("SELECT id FROM staff WHERE user_id = :u"), {"u": user_id})
        return int(found.scalar_one())


async def test_an_admin_invites_removes_and_sees_the_set_up_check_and_the_sign_in_log(
    desk: Desk,
    client: TestClient[object, object],
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    await desk.add_staff("501", "personnel", name="สมศรี")
    await desk.add_staff("503", None, role="coordinator")
    await desk.add_staff("504", None, role="admin", name="ผู้ดูแล")
    wrong = await client.post("/desk/login/not-a-link")
    assert "ลิงก์นี้ใช้ไม่ได้" in await wrong.text()
    for not_admin in ("501", "503"):
        async with TestClient(
            TestServer(build_web_app(desk.services, Inbox(desk.db, desk.services.vault)))
        ) as c:
            await _sign_in(c, desk, not_admin)
            assert (await c.get("/desk/admin")).status == 404  # the page does not exist for them
    clerk = TestClient(TestServer(build_web_app(desk.services, Inbox(desk.db, desk.services.vault))))
    await clerk.start_server()
    await _sign_in(clerk, desk, "501")

    await _sign_in(client, desk, "504")
    page = await (await client.get("/desk/admin")).text()
    assert "สมศรี" in page and "test:501" in page
    assert "ฝ่ายนิติการและการพาณิชย์ สำนักปลัด อบจ. ยังไม่มีเจ้าหน้าที่" in page  # the set-up check
    assert "ไม่ใช่ https" in page  # the test server is plain http
    assert "ไฟล์ตั้งค่าองค์กรถูกต้อง และตรงกับที่ระบบใช้งานอยู่" in page  # the organisation file check
    assert "ลิงก์เข้าสู่ระบบถูกปฏิเสธ" in page and "เข้าสู่ระบบ" in page  # the sign-in log
    csrf = await _csrf(client, "/desk/admin")

    no_division = await client.post(
        "/desk/admin/invite", data={"csrf": csrf, "role": "staff", "division": ""}
    )
    assert "ต้องสังกัดส่วนราชการ" in await no_division.text()
    invited = await client.post(
        "/desk/admin/invite", data={"csrf": csrf, "role": "staff", "division": "legal"}
    )
    found = re.search(r"/join ([A-Z0-9]{5}-[A-Z0-9]{5})", await invited.text())
    assert found and "/join" not in str(invited.url)  # shown once, never in an address
    assert "ฝ่ายนิติการ" in await desk.chat("777").say(f"/join {found.group(1)}")

    clerk_id = await _staff_id(desk, "501")
    forged = await client.post(
        f"/desk/admin/staff/{clerk_id}/remove", data={"csrf": "x"}, allow_redirects=False
    )
    assert forged.status == 403 and (await clerk.get("/desk/", allow_redirects=False)).status == 200
    removed = await client.post(f"/desk/admin/staff/{clerk_id}/remove", data={"csrf": csrf})
    text_after = await removed.text()
    assert "ถอดออกแล้ว" in text_after and "ถูกถอดออกแล้ว" in text_after
    assert (await clerk.get("/desk/", allow_redirects=False)).status == 303  # out at once
    assert "ไม่มีสิทธิ์" in await desk.chat("501").say("/cases")  # and from the chat
    itself = await client.post(
        f"/desk/admin/staff/{await _staff_id(desk, '504')}/remove", data={"csrf": csrf}
    )
    assert "ไม่สามารถถอดตนเองออกได้" in await itself.text()
    await clerk.close()

    # an organisation file edited on disk is checked before anyone restarts with it
    broken = tmp_path / "broken.toml"
    broken.write_text(
        default_config_path().read_text(encoding="utf-8").replace('code = "CM"', 'code = "c m"')
    )
    desk.services.config_path = str(broken)
    checked = await (await client.get("/desk/admin")).text()
    assert "ไฟล์ตั้งค่าองค์กรมีข้อผิดพลาด" in checked and "broken.toml" in checked
    desk.services.config_path = ""
    log_page = await (await client.get("/desk/admin")).text()
    assert "ถูกถอดออกจากเจ้าหน้าที่" in log_page and "โดย ผู้ดูแล" in log_page
    assert "สร้างรหัสเชิญ" in log_page
    async with desk.db.session() as s:
        kinds = (await s.execute(text("SELECT kind FROM desk_access_log ORDER BY id"))).scalars().all()
    assert kinds[0] == "link_refused" and kinds.count("signed_in") == 4
    assert {"invited", "staff_removed"} <= set(kinds)


async def test_the_inbox_finds_cases_by_the_words_in_them_open_or_closed_though_they_are_encrypted(
    desk: Desk,
    client: TestClient[object, object],
    clock,  # type: ignore[no-untyped-def]
) -> None:
    case_id = await _tip_off(desk)  # "เรียกรับเงินค่าอนุญาต", personnel: CM-2569-000001
    await desk.add_staff("505", "office")
    async with desk.db.session() as s:
        await _road_grievance(Work(s, desk.services, clock()))  # "ถนนพัง", office: CM-2569-000002
        await s.commit()

    async def found(client: TestClient[object, object], query: str) -> set[str]:
        page = await client.get(f"/desk/?{query}")
        assert page.status == 200
        return set(re.findall(r'href="/desk/case/(CM-2569-\d{6})"', await page.text()))

    await _sign_in(client, desk, "503")  # a coordinator: the whole organisation
    assert await found(client, "q=ถนน") == {"CM-2569-000002"}
    assert await found(client, "q=ถนนพัง") == {"CM-2569-000002"}  # cut into words as the text was
    assert await found(client, "q=เงิน+ถนน") == set()  # every word must be in the case
    assert await found(client, "q=000001") == {REFERENCE}  # a reference is still a reference
    assert await found(client, "q=...") == set()
    assert await found(client, "category=roads") == {"CM-2569-000002"}
    tomorrow = (clock() + timedelta(days=1)).date().isoformat()
    assert await found(client, f"received_from={tomorrow}") == set()

    csrf = await _csrf(client, f"/desk/case/{REFERENCE}")
    await client.post("/desk/case/2/accept", data={"csrf": csrf})
    asked = await client.post("/desk/case/2/ask", data={"csrf": csrf, "note": "ผู้รับเหมารายใดเป็นผู้ทำถนน"})
    assert "บันทึกแล้ว" in await asked.text()
    assert await found(client, "q=ผู้รับเหมา") == {"CM-2569-000002"}  # staff notes are searchable
    async with desk.db.session() as s:
        coordinator = StaffAccount("test", "503")
        await staff.accept_case(Work(s, desk.services, clock()), case_id=case_id, by=coordinator)
        await staff.close_case(
            Work(s, desk.services, clock()), case_id=case_id, by=coordinator, outcome="resolved",
            public_note="ตรวจสอบแล้ว",
        )  # fmt: skip
        await s.commit()
    assert REFERENCE not in await found(client, "")  # the inbox holds open cases
    closed = await client.get("/desk/?q=อนุญาต")
    assert REFERENCE in await closed.text() and "ดำเนินการแล้วเสร็จ" in await closed.text()

    office = TestClient(TestServer(build_web_app(desk.services, Inbox(desk.db, desk.services.vault))))
    await office.start_server()
    await _sign_in(office, desk, "505")
    assert await found(office, "q=อนุญาต") == set()  # another division's case is not found
    assert await found(office, "q=ถนน") == {"CM-2569-000002"}
    await office.close()
    async with desk.db.session() as s:
        kept = (await s.execute(text("SELECT term FROM case_terms"))).scalars().all()
    assert kept and all(re.fullmatch(r"[0-9a-f]{16}", term) for term in kept)  # no word in clear

    # cases written before the index existed are indexed by `damrongtham cases reindex`
    async with desk.db.session() as s:
        await s.execute(text("DELETE FROM case_terms"))
        await s.commit()
    assert await found(client, "q=ผู้รับเหมา") == set()
    async with desk.db.session() as s:
        work = Work(s, desk.services, clock())
        assert await index_cases(work, after_id=0) == [1, 2] and await index_cases(work, after_id=2) == []
        await s.commit()
    assert await found(client, "q=ผู้รับเหมา") == {"CM-2569-000002"}
    assert await found(client, "q=อนุญาต") == {REFERENCE}


@pytest.fixture
async def province(sqlite_database, vault, clock, sender, tmp_path) -> Desk:  # type: ignore[no-untyped-def]
    """A deployment of two organisations: the Chiang Mai PAO and the Lamphun PAO."""
    from tests.unit.conftest import make_desk, two_organisations

    desk = await make_desk(sqlite_database, two_organisations(tmp_path / "orgs"), vault, clock, sender)
    directory = desk.services.directory
    async with desk.db.session() as s:
        for user_id, org, role in (("601", "CM", "province_coordinator"), ("602", "CM", "coordinator"),
                                   ("603", "LPN", "coordinator")):  # fmt: skip
            await add_staff(s, org_id=directory.org_ids[org], channel="test", user_id=user_id, role=role,
                            division_id=None)  # fmt: skip
        reports = (
            ("CM", "corruption", "bribery", "เรียกรับเงินค่าอนุญาต"),
            ("LPN", "grievance", "roads", "ถนนเป็นหลุมเป็นบ่อหน้าตลาด"),
        )
        for org, kind, category, text_ in reports:
            draft = Draft.from_dict(
                {
                    "type": kind,
                    "concerns": "no",
                    "category": category,
                    "description": text_,
                    "anonymous": True,
                }
            )
            who = ReporterInfo(channel="test", chat_id="1001", user_id="1001", lang="th")
            await submit_report(s, desk.services, org=desk.services.orgs[org], draft=draft, reporter=who,
                                now=clock())  # fmt: skip
        await s.commit()
    return desk


async def test_a_province_coordinator_sees_every_organisation_and_acts_only_in_their_own(
    province: Desk, client_of: Any
) -> None:
    async with client_of(province) as client:
        await _sign_in(client, province, "601")
        inbox = await (await client.get("/desk/")).text()
        assert "CM-2569-000001" in inbox and "LPN-2569-000001" in inbox
        assert "LPN-2569-000001" in await (await client.get("/desk/?q=ถนน")).text()  # searched too
        other = await client.get("/desk/case/LPN-2569-000001")
        page = await other.text()
        assert other.status == 200 and "ถนนเป็นหลุมเป็นบ่อหน้าตลาด" in page
        assert 'action="/desk/case/' not in page and "ดำเนินการได้เฉพาะหน่วยงานนั้น" in page  # only sees
        assert 'action="/desk/case/1/accept"' in await (await client.get("/desk/case/CM-2569-000001")).text()
        csrf = await _csrf(client, "/desk/")
        assert (await client.post("/desk/case/2/accept", data={"csrf": csrf})).status == 404
        plan = await (await client.get("/desk/plan")).text()
        assert "องค์การบริหารส่วนจังหวัดลำพูน" in plan and 'id="province"' in plan
    async with client_of(province) as client:
        await _sign_in(client, province, "602")  # a coordinator of the PAO only
        inbox = await (await client.get("/desk/")).text()
        assert "CM-2569-000001" in inbox and "LPN-2569-000001" not in inbox
        assert (await client.get("/desk/case/LPN-2569-000001")).status == 404
        assert 'id="province"' not in await (await client.get("/desk/plan")).text()
    async with province.db.session() as s:
        viewed = await s.execute(text("SELECT actor FROM case_events WHERE kind = 'viewed' AND case_id = 2"))
        assert viewed.scalars().all() == ["staff:1"]  # the look at another's anonymous case is audited


async def test_the_desk_corrects_a_category_as_the_card_would(
    desk: Desk, client: TestClient[object, object]
) -> None:
    await _tip_off(desk)
    await _sign_in(client, desk, "501")
    page = await (await client.get(f"/desk/case/{REFERENCE}")).text()
    form = page[page.index('id="action-recategorise"') :]
    form = form[: form.index("</form>")]
    assert '<option value="procurement">การจัดซื้อจัดจ้างไม่โปร่งใส</option>' in form
    assert 'value="bribery"' not in form  # the category it has already
    csrf = await _csrf(client, f"/desk/case/{REFERENCE}")
    wrong = await client.post("/desk/case/1/recategorise", data={"csrf": csrf, "to": "roads"})
    assert wrong.status == 200 and "ไม่พบประเภทนี้" in await wrong.text()
    done = await client.post("/desk/case/1/recategorise", data={"csrf": csrf, "to": "procurement"})
    assert done.status == 200 and "บันทึกแล้ว" in await done.text()
    async with desk.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        history = await case_history(s, desk.services.vault, case.id or 0)
    assert case.category == "procurement" and history[-1].kind == "recategorise"
    assert "แก้ประเภทเรื่อง" in await (await client.get(f"/desk/case/{REFERENCE}")).text()
