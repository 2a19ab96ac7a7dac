"""The web chat (/chat/<org>, issue 16): the same conversation as Telegram and LINE, on the
organisation's own site, without an account; over HTTP against the real engine and database."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text

from bot.inbox import Inbox
from bot.web import RouteAccessLogger, build_web_app
from kernel.messages import held_sha
from storage.models import Attachment, Case
from tests.support.web import WebCitizen
from tests.unit.conftest import STAFF_CHATS, Desk
from tests.unit.test_intake_own_words import TIP_TH

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
UA = "SentinelBrowser/9.9 (cheap phone)"


@pytest.fixture
async def client(desk: Desk) -> AsyncIterator[TestClient[Any, Any]]:
    """The web app as `serve` runs it: its access log names routes only."""
    app = build_web_app(desk.services, Inbox(desk.db, desk.services.vault))
    server = TestServer(app)
    await server.start_server(access_log_class=RouteAccessLogger)
    async with TestClient(server) as c:
        yield c


async def test_the_page_sets_no_cookie_until_the_citizen_writes_and_loads_nothing_from_elsewhere(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/chat/CM")
    page = await response.text()
    assert response.status == 200 and "Set-Cookie" not in response.headers
    assert "ไม่ต้องมีบัญชี" in page and 'lang="th"' in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)  # nothing from another origin
    english = await (await client.get("/chat/CM?lang=en")).text()
    assert "No account, phone number or e-mail is needed" in english


async def test_an_anonymous_tip_off_with_a_photo_filed_on_the_web_reaches_the_division(
    desk: Desk, client: TestClient[Any, Any]
) -> None:
    citizen = WebCitizen(client)
    await citizen.open()
    assert "เรื่องนี้น่าจะเป็น: แจ้งเบาะแสการทุจริต" in await citizen.say(TIP_TH)
    [cookie] = citizen.set_cookies
    assert cookie.startswith("conversation=") and "HttpOnly" in cookie and "Path=/chat/CM" in cookie
    assert "มีใครเกี่ยวข้อง" in await citizen.press("ใช่ ถูกต้อง")
    assert "ได้รับไฟล์แล้ว (1/5)" in await citizen.send_file("receipt.png", PNG, "image/png")
    assert "สรุปเรื่องที่จะแจ้ง" in await citizen.share_location(18.7883, 98.9853)
    assert "รับเรื่องของท่านเรียบร้อยแล้ว" in await citizen.press("ส่งโดยไม่เปิดเผยชื่อ")
    reference, code = citizen.receipt()
    assert reference == "CM-2569-000001" and len(code.replace(" ", "")) >= 16
    assert [who for who, _ in citizen.lines()][:3] == ["bot", "citizen", "bot"]  # welcome, words, suggestion
    async with desk.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        files = (await s.execute(select(Attachment.file_id))).scalars().all()
    assert case.reporter_channel == "web" and case.anonymous and case.report_type == "corruption"
    assert len(files) == 1 and held_sha(files[0]) is not None
    await desk.dispatcher.drain()
    personnel = desk.sender.to(STAFF_CHATS["personnel"])
    assert personnel and TIP_TH in personnel[0].text
    assert [r.media.file_id for r in personnel if r.media and r.media.kind == "photo"] == files


async def test_the_no_javascript_path_files_a_grievance_one_form_at_a_time_in_english(
    desk: Desk, client: TestClient[Any, Any]
) -> None:
    citizen = WebCitizen(client)
    await citizen.open("?lang=en")
    said = await citizen.post(text="The street lights on our lane have been broken for two weeks.", lang="en")
    assert citizen.status == 200 and "sounds like: Grievance" in said
    assert "Where did it happen?" in await citizen.press("Yes, that's right")
    assert not any(label == "Share location" for _, label in citizen.buttons())  # a script's button
    assert "Summary of your report" in await citizen.say("Soi 5, Huay Kaew Road")
    assert "Reference: CM-2569-000001" in await citizen.press("Send anonymously")
    async with desk.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
    assert (case.report_type, case.lang) == ("grievance", "en")


async def test_bad_input_gets_a_polite_answer_and_nothing_typed_is_lost(
    desk: Desk, client: TestClient[Any, Any]
) -> None:
    citizen = WebCitizen(client)
    await citizen.post(text="")
    assert "There was nothing to send" in citizen.html or "ไม่มีข้อความที่จะส่ง" in citizen.html
    assert citizen.set_cookies == []
    await citizen.say(TIP_TH)
    big = PNG + b"\0" * (20 * 1024 * 1024)  # past the organisation's 20 MB
    await citizen.post(text="this is the receipt", file=("big.png", big, "image/png"))
    notice = re.search(r'id="notice"[^>]*>([^<]*)<', citizen.html)
    assert citizen.status == 413 and notice and "20 MB" in notice.group(1)
    assert "this is the receipt</textarea>" in citizen.html
    assert (await client.get("/chat/NOWHERE")).status == 404


async def test_a_double_tap_is_handled_once_and_a_flood_is_slowed_with_the_text_kept(
    desk: Desk, client: TestClient[Any, Any]
) -> None:
    citizen = WebCitizen(client)
    await citizen.say(TIP_TH)
    page = citizen.html
    await citizen.post(text="ครั้งที่หนึ่ง")
    citizen.html = page  # the same form again: the same nonce
    await citizen.post(text="ครั้งที่หนึ่ง")
    assert [t for who, t in citizen.lines() if who == "citizen"].count("ครั้งที่หนึ่ง") == 1
    for _ in range(40):
        await citizen.post(text="ข้อความซ้ำ")
        if citizen.status == 429:
            break
    assert citizen.status == 429 and "ข้อความซ้ำ</textarea>" in citizen.html


async def test_no_address_or_user_agent_reaches_the_database_or_the_logs(
    desk: Desk, client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    citizen = WebCitizen(client, headers={"User-Agent": UA, "X-Forwarded-For": "203.0.113.77"})
    await citizen.say(TIP_TH)
    await citizen.press("ใช่ ถูกต้อง")
    await citizen.send_file("receipt.png", PNG, "image/png")
    await citizen.share_location(18.7883, 98.9853)
    await citizen.press("ส่งโดยไม่เปิดเผยชื่อ")
    citizen.receipt()
    dump = await _dump(desk)
    for secret in (UA, "SentinelBrowser", "203.0.113.77", "127.0.0.1"):
        assert secret not in dump and secret not in caplog.text


async def _dump(desk: Desk) -> str:
    """Every value in every table, as text."""
    async with desk.db.session() as s:
        names = (await s.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))).scalars().all()
        rows = [str((await s.execute(text(f'SELECT * FROM "{name}"'))).all()) for name in names]
    return "\n".join(rows)


async def test_with_htmx_the_answer_is_the_conversation_itself(
    desk: Desk, client: TestClient[Any, Any]
) -> None:
    """One request a step for a browser running htmx (no redirect); the plain form still redirects."""
    citizen = WebCitizen(client, headers={"HX-Request": "true"})
    await citizen.open()
    response = await client.post(
        "/chat/CM", data={"text": TIP_TH}, headers=citizen.headers, allow_redirects=False
    )
    page = await response.text()
    assert response.status == 200 and 'id="conversation"' in page and "เรื่องนี้น่าจะเป็น" in page
    assert "conversation=" in response.headers.get("Set-Cookie", "")
    plain = await client.post("/chat/CM", data={"text": "เพิ่มเติม"}, allow_redirects=False)
    assert plain.status == 303 and plain.headers["Location"] == "/chat/CM#latest"
