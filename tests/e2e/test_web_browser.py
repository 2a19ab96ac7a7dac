"""The web chat, tracking and the open figures in a real headless Chromium (issue 16): a tip-off with
a photo and the browser's location filed without an account; staff ask in the Telegram group (the
stand-in Bot API); the reporter reads and answers the question on /track from a fresh browser; staff
get the answer. The form path without JavaScript; the figures in Thai. No request leaves the
server's own origin.

Without a browser these tests skip with the reason; under CI=true they are required.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.inbox import Inbox
from bot.web import build_web_app
from storage.files import FileStore
from tests.e2e.conftest import PERSONNEL, RunningBot
from tests.e2e.test_desk_browser import ARTIFACTS, CHROMIUM, _require_browser, bound_desk, served
from tests.e2e.test_telegram_staff import _card_data, _register, _wait_status
from tests.unit.conftest import Desk
from tests.unit.test_intake_own_words import TIP_TH

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
OFFICER = 880301


class Origins:
    """Every address a page asked for: all must be the server's own."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.foreign: list[str] = []

    def watch(self, context: Any) -> None:
        context.on("request", lambda r: None if r.url.startswith(self.origin) else self.foreign.append(r.url))


@pytest.fixture
async def desk(sqlite_database, orgs, vault, clock, sender, tmp_path) -> Desk:  # type: ignore[no-untyped-def]
    """The browser desk's, with evidence kept (the web chat takes uploads)."""
    desk = await bound_desk(sqlite_database, orgs, vault, clock, sender)
    desk.services.files = FileStore(tmp_path / "files", vault)
    return desk


@pytest.fixture
async def server(desk: Desk) -> AsyncIterator[TestServer]:
    async with served(desk) as server:
        yield server


async def test_a_web_tip_off_is_answered_from_track_in_a_fresh_browser_and_staff_see_it(
    bot: RunningBot,
) -> None:
    from playwright.async_api import async_playwright, expect

    _require_browser()
    api, app = bot.api, bot.app
    assert app is not None
    await _register(bot, OFFICER, "personnel", "สมศรี วินัยดี")
    async with TestServer(
        build_web_app(app.services, Inbox(app.db, app.services.vault)), host="127.0.0.1"
    ) as server:
        origin = str(server.make_url("")).rstrip("/")
        origins = Origins(origin)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                phone = await browser.new_context(
                    geolocation={"latitude": 18.7883, "longitude": 98.9853}, permissions=["geolocation"],
                    viewport={"width": 360, "height": 740},
                )  # fmt: skip
                origins.watch(phone)
                chat = await phone.new_page()
                await chat.goto(f"{origin}/chat/CM")
                assert await phone.cookies() == []  # nothing kept before the citizen writes
                await chat.fill("#text", TIP_TH)
                await chat.click("#send")
                await expect(chat.locator("#messages")).to_contain_text("เรื่องนี้น่าจะเป็น: แจ้งเบาะแสการทุจริต")
                await chat.click("#buttons >> text=ใช่ ถูกต้อง")
                await expect(chat.locator("#latest")).to_contain_text("มีใครเกี่ยวข้อง")
                await chat.set_input_files(
                    "#file", {"name": "receipt.png", "mimeType": "image/png", "buffer": PNG}
                )
                await chat.click("#send")
                await expect(chat.locator("#latest")).to_contain_text("ได้รับไฟล์แล้ว (1/5)")
                await chat.click("button.geo")  # the browser's location, asked for only now
                await expect(chat.locator("#latest")).to_contain_text("สรุปเรื่องที่จะแจ้ง")
                await chat.click("#buttons >> text=ส่งโดยไม่เปิดเผยชื่อ")
                await expect(chat.locator("#receipt")).to_be_visible()
                reference = (await chat.locator("#receipt-reference").inner_text()).strip()
                code = (await chat.locator("#receipt-code").inner_text()).strip()
                [cookie] = await phone.cookies()
                assert cookie["httpOnly"] and cookie["name"] == "conversation"
                ARTIFACTS.mkdir(exist_ok=True)
                await chat.evaluate("document.fonts.ready")
                await chat.screenshot(path=str(ARTIFACTS / "web-chat-receipt-th.png"), full_page=True)
                wide = await chat.evaluate("document.documentElement.scrollWidth")
                assert wide <= 360  # fits a cheap phone's screen

                # staff: the card in the Telegram group, with the photo; accept, then ask
                await api.wait_for_messages(PERSONNEL, 2)
                for _ in range(100):  # the photo follows the card, uploaded from our own copy
                    if any(m.method == "sendPhoto" for m in api.messages_to(PERSONNEL)):
                        break
                    await chat.wait_for_timeout(50)
                else:
                    raise AssertionError("the photo never reached the division's group")
                staff = {"chat_type": "supergroup"}
                api.press(PERSONNEL, **_card_data(api, PERSONNEL, "รับเรื่อง"), user_id=OFFICER, **staff)
                await _wait_status(bot, "accepted")
                before = len(api.messages_to(PERSONNEL))
                for _ in range(100):  # the card is edited with the next step's buttons
                    if any("ถามผู้แจ้ง" in str(e.reply_markup) for e in api.edits if e.chat_id == PERSONNEL):
                        break
                    await chat.wait_for_timeout(50)
                api.press(PERSONNEL, **_card_data(api, PERSONNEL, "ถามผู้แจ้ง"), user_id=OFFICER, **staff)
                prompts = await api.wait_for_messages(PERSONNEL, before + 2)
                api.send_text(PERSONNEL, "ร้านอาหารชื่ออะไรครับ", user_id=OFFICER, chat_type="supergroup",
                              reply_to_message_id=prompts[-1].message_id)  # fmt: skip
                await _wait_status(bot, "awaiting_info")

                # the reporter, on another device with nothing of the first
                desktop = await browser.new_context()
                origins.watch(desktop)
                track = await desktop.new_page()
                await track.goto(f"{origin}/track")
                await track.fill("#reference", reference)
                await track.fill("#code", code)
                await track.click("#look-up")
                await expect(track.locator("#history")).to_contain_text("ร้านอาหารชื่ออะไรครับ")
                await expect(track.locator("#question-waiting")).to_be_visible()
                assert code not in track.url and reference not in track.url
                await track.fill("#text", "ร้านข้าวซอยแม่มาลี")
                await track.click("#send")
                await expect(track.locator("#notice")).to_contain_text("ส่งถึงเจ้าหน้าที่แล้ว")
                await expect(track.locator("#status")).to_contain_text("กำลังตรวจสอบ")
                await track.screenshot(path=str(ARTIFACTS / "web-track-th.png"), full_page=True)
                for _ in range(100):
                    if any("ร้านข้าวซอยแม่มาลี" in (m.text or "") for m in api.messages_to(PERSONNEL)):
                        break
                    await track.wait_for_timeout(50)
                else:
                    raise AssertionError("staff never got the answer")
                # and the question waits on the first device's chat page too
                await chat.reload()
                await expect(chat.locator("#messages")).to_contain_text("ร้านอาหารชื่ออะไรครับ")
            finally:
                await browser.close()
        assert origins.foreign == []


async def test_without_javascript_a_grievance_is_filed_one_form_at_a_time(
    desk: Desk, server: TestServer
) -> None:
    from playwright.async_api import async_playwright, expect

    origin = str(server.make_url("")).rstrip("/")
    origins = Origins(origin)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(java_script_enabled=False)
            origins.watch(context)
            page = await context.new_page()
            await page.goto(f"{origin}/chat/CM?lang=en")
            await page.fill("#text", "The street lights on our lane have been broken for two weeks.")
            await page.click("#send")
            await expect(page.locator("#latest")).to_contain_text("sounds like: Grievance")
            await page.click("#buttons >> text=Yes")
            await expect(page.locator("#latest")).to_contain_text("Where did it happen?")
            assert not await page.locator("button.geo").is_visible()  # needs the script: typed instead
            await page.fill("#text", "Soi 5, Huay Kaew Road")
            await page.click("#send")
            await expect(page.locator("#latest")).to_contain_text("Summary of your report")
            await page.click("#buttons >> text=Send anonymously")
            await expect(page.locator("#receipt")).to_contain_text("CM-2569-000001")
        finally:
            await browser.close()
    assert origins.foreign == []


async def test_the_figures_page_renders_thai(desk: Desk, server: TestServer) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.unit.test_track_and_figures import _reports

    await _reports(desk, "grievance", "roads", 6)
    await _reports(desk, "corruption", "bribery", 2)
    origin = str(server.make_url("")).rstrip("/")
    origins = Origins(origin)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context()
            origins.watch(context)
            page = await context.new_page()
            await page.goto(f"{origin}/stats/CM")
            await expect(page.locator("h2").first).to_contain_text("ปีงบประมาณ 2570")
            await expect(page.locator("main")).to_contain_text("ถนน สะพาน")
            await expect(page.locator("#head")).to_contain_text(":")
            assert await page.evaluate("document.documentElement.lang") == "th"
            ARTIFACTS.mkdir(exist_ok=True)
            await page.evaluate("document.fonts.ready")
            await page.screenshot(path=str(ARTIFACTS / "web-figures-th.png"), full_page=True)
        finally:
            await browser.close()
    assert origins.foreign == []
