"""The web desk in a real headless Chromium (Playwright, Debian's chromium): sign in by link, open a
case from the inbox, accept it, and the reporter hears of it as from the chat button.

Without a browser these tests skip with the reason; under CI=true they are required.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.inbox import Inbox
from bot.web import build_web_app
from tests.unit.conftest import STAFF_CHATS, Desk, make_desk
from tests.unit.test_use_cases import _plan_item, _tip_off

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _require_browser() -> None:
    problem = None
    if shutil.which(CHROMIUM) is None:
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            problem = "Playwright for Python is not installed (pip install -e '.[dev]')"
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem + "; under CI=true the browser tests are required")
    pytest.skip(problem)


@pytest.fixture
async def desk(sqlite_database, orgs, vault, clock, sender) -> Desk:  # type: ignore[no-untyped-def]
    """The unit tests' desk: staff chats bound, a real SQLite file."""
    desk = await make_desk(sqlite_database, orgs, vault, clock, sender)
    for code, chat_id in STAFF_CHATS.items():
        await desk.bind("coordinators" if code == "coordinators" else f"division:{code}", chat_id)
    return desk


@pytest.fixture
async def server(desk: Desk) -> AsyncIterator[TestServer]:
    _require_browser()
    app = build_web_app(desk.services, Inbox(desk.db, desk.services.vault))
    async with TestServer(app, host="127.0.0.1") as server:
        desk.services.public_url = str(server.make_url("")).rstrip("/")
        yield server


async def _link(desk: Desk, user_id: str) -> str:
    """The sign-in link a staff member gets by sending /desk to the bot."""
    reply = await desk.chat(user_id).say("/desk")
    link = re.search(r"https?://\S+/desk/login/[\w-]+", reply)
    assert link, reply
    return link.group(0)


async def _signed_in(browser: Any, link: str) -> Any:
    """A new page, signed in by pressing the link's button."""
    page = await browser.new_page()
    await page.goto(link)
    await page.click("#sign-in")
    return page


async def test_a_clerk_accepts_a_case_in_the_browser(desk: Desk, server: TestServer) -> None:
    from playwright.async_api import async_playwright, expect

    await _tip_off(desk)
    link = await _link(desk, "501")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await _signed_in(browser, link)
            await expect(page.locator("#inbox")).to_contain_text("CM-2569-000001")
            await page.click("text=CM-2569-000001")
            await expect(page.locator("#card")).to_contain_text("เรียกรับเงินค่าอนุญาต")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "desk-case-th.png"), full_page=True)
            await page.click("#action-accept button")
            await expect(page.locator("#notice")).to_contain_text("บันทึกแล้ว")
            await page.fill("#action-ask textarea", "ร้านใดเรียกเงิน")
            await page.click("#action-ask button")
            await expect(page.locator("#history")).to_contain_text("ร้านใดเรียกเงิน")
            await page.click("text=ภาพรวม")  # the dashboard, linked to the inbox so filtered
            await page.click("#by-status >> text=รอข้อมูลเพิ่มเติม")
            await expect(page.locator("#inbox")).to_contain_text("CM-2569-000001")
            await expect(page.locator("#filters select[name=status]")).to_have_value("awaiting_info")
            await page.click("#language button")  # English, remembered for this person
            await expect(page.locator("h1")).to_contain_text("Open cases")
            # a used link signs nobody in
            other = await browser.new_page()
            await other.goto(link)
            await other.click("#sign-in")
            await expect(other.locator("main")).to_contain_text("ลิงก์นี้ใช้ไม่ได้")
        finally:
            await browser.close()
    await desk.dispatcher.drain()
    told = [r.text for r in desk.sender.to("1001")]
    assert any("ได้รับการตอบรับแล้ว" in text for text in told) and "ร้านใดเรียกเงิน" in told[-1]
    edits = [r for chat, r in desk.sender.sent if r.edit_message_id and chat == STAFF_CHATS["personnel"]]
    assert "สถานะ: รอข้อมูลเพิ่มเติม" in edits[-1].text  # the group card shows the question was asked


async def test_a_coordinator_enrols_a_second_step_and_reads_the_plan(
    desk: Desk,
    server: TestServer,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    import pyotp
    from playwright.async_api import async_playwright, expect

    await _tip_off(desk)
    await _plan_item(desk, fiscal_years="2570")
    link = await _link(desk, "503")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await _signed_in(browser, link)
            await page.click("text=ตั้งค่ารหัสยืนยันขั้นที่สอง")
            # the QR code is drawn inside the page: the CSP lets it show
            assert await page.eval_on_selector("#qr", "img => img.naturalWidth") > 0
            key = await page.inner_text("#totp-key")
            await page.fill("#totp input[name=code]", pyotp.TOTP(key).at(clock()))
            await page.click("#totp button")
            await expect(page.locator("h1")).to_contain_text("เรื่องที่ยังดำเนินการอยู่")
            await page.goto(str(server.make_url("/desk/plan?fiscal_year=2570&round=6m")))
            await expect(page.locator("#items")).to_contain_text("อบรมจริยธรรม")
            await expect(page.locator("#summary")).to_contain_text("0.00")
            await page.select_option("#items select[name=status]", "done")
            await page.click("#items form.report button")
            await expect(page.locator("#notice")).to_contain_text("บันทึกความคืบหน้าแล้ว")
            await expect(page.locator("#summary")).to_contain_text("100.00")
        finally:
            await browser.close()
