"""The web desk in a real headless Chromium (Playwright, Debian's chromium): sign in by link, open a
case from the inbox, accept it, and the reporter hears of it as from the chat button; the second
step and the plan; and one case worked from the desk and from Telegram (the stand-in Bot API) with
one history: the reporter's answer, a forged form, a transfer, a removal and signing out.

Without a browser these tests skip with the reason; under CI=true they are required.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from storage.staff import add_staff
from tests.e2e.conftest import PERSONNEL, Citizen, RunningBot, anonymous_tip_off, press
from tests.fakes.fake_bot_api import FakeBotApi
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


async def bound_desk(sqlite_database, orgs, vault, clock, sender) -> Desk:  # type: ignore[no-untyped-def]
    """The unit tests' desk: staff chats bound, a real SQLite file."""
    desk = await make_desk(sqlite_database, orgs, vault, clock, sender)
    for code, chat_id in STAFF_CHATS.items():
        await desk.bind("coordinators" if code == "coordinators" else f"division:{code}", chat_id)
    return desk


@pytest.fixture
async def desk(sqlite_database, orgs, vault, clock, sender) -> Desk:  # type: ignore[no-untyped-def]
    return await bound_desk(sqlite_database, orgs, vault, clock, sender)


@contextlib.asynccontextmanager
async def served(desk: Desk) -> AsyncIterator[TestServer]:
    """The web app on a local port, its address the desk's public one (for sign-in links)."""
    _require_browser()
    app = build_web_app(desk.services, Inbox(desk.db, desk.services.vault))
    async with TestServer(app, host="127.0.0.1") as server:
        desk.services.public_url = str(server.make_url("")).rstrip("/")
        yield server


@pytest.fixture
async def server(desk: Desk) -> AsyncIterator[TestServer]:
    async with served(desk) as server:
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
            blocked: list[str] = []
            page.on(
                "console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None
            )
            await expect(page.locator("#inbox")).to_contain_text("CM-2569-000001")
            # with htmx a filter swaps the list in place: the page is not reloaded, the address follows
            await page.evaluate("window.notReloaded = true")
            await page.select_option("#filters select[name=status]", "accepted")
            await expect(page.locator("#empty")).to_be_visible()
            assert await page.evaluate("window.notReloaded === true") and "status=accepted" in page.url
            await page.go_back()
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
            assert blocked == []  # htmx runs under the strict Content-Security-Policy
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


async def _register(bot: RunningBot, user_id: int, division: str | None, role: str, name: str) -> int:
    assert bot.app is not None
    d = bot.app.services.directory
    async with bot.app.db.session() as s:
        staff = await add_staff(
            s, org_id=d.org_ids["CM"], channel="telegram", user_id=str(user_id), role=role,
            division_id=d.division_ids[("CM", division)] if division else None, display_name=name,
        )  # fmt: skip
        await s.commit()
        return staff.id or 0


async def _desk_link(api: FakeBotApi, user_id: int) -> str:
    """What `/desk` in a private chat with the bot answers, over the stand-in Bot API."""
    reply = await Citizen(api, user_id).do("/desk", "/desk/login/")
    found = re.search(r"https?://\S+/desk/login/[\w-]+", reply)
    assert found, reply
    return found.group(0)


async def _edited(api: FakeBotApi, chat_id: int, text: str) -> None:
    for _ in range(200):
        if any(e.chat_id == chat_id and text in (e.text or "") for e in api.edits):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no card in {chat_id} was edited to show {text!r}")


async def test_one_case_worked_from_the_desk_and_the_chat_over_the_stand_in_bot_api(bot: RunningBot) -> None:
    """A clerk accepts and asks on the desk: the reporter's Telegram gets it and the group's card is
    edited; the reporter answers in Telegram and the desk shows it; a form without its token is
    refused; the clerk transfers the case and its address is then "not found" to them; an admin
    removes the clerk, whose session ends; the admin signs out."""
    from playwright.async_api import async_playwright, expect

    _require_browser()
    api, app = bot.api, bot.app
    assert app is not None
    citizen = Citizen(api, 5570001)
    await citizen.play(anonymous_tip_off("เจ้าหน้าที่เรียกรับเงินเพื่อเร่งออกใบอนุญาตร้านอาหาร"))
    await api.wait_for_messages(PERSONNEL, 1)
    clerk_id = await _register(bot, 880101, "personnel", "staff", "สมศรี วินัยดี")
    await _register(bot, 880109, None, "admin", "ผู้ดูแลระบบ")
    async with TestServer(
        build_web_app(app.services, Inbox(app.db, app.services.vault)), host="127.0.0.1"
    ) as server:
        app.services.public_url = str(server.make_url("")).rstrip("/")
        case_url = str(server.make_url("/desk/case/CM-2569-000001"))
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                clerk = await _signed_in(browser, await _desk_link(api, 880101))
                await clerk.click("text=CM-2569-000001")
                await clerk.click("#action-accept button")
                await expect(clerk.locator("#notice")).to_contain_text("บันทึกแล้ว")
                await citizen._expect(0, "ได้รับการตอบรับแล้ว")  # on the reporter's Telegram
                await _edited(api, PERSONNEL, "สถานะ: ตอบรับแล้ว")  # and on the group's card

                await clerk.fill("#action-ask textarea", "ร้านอาหารชื่ออะไรครับ")
                await clerk.click("#action-ask button")
                assert "เจ้าหน้าที่มีคำถาม" in await citizen._expect(0, "ร้านอาหารชื่ออะไรครับ")
                await citizen.play(
                    [
                        (press("ตอบคำถาม"), "ส่งข้อความ รูปภาพ หรือเอกสาร"),
                        ("ร้านข้าวซอยแม่มาลี", "ส่งถึงเจ้าหน้าที่แล้ว"),
                    ]
                )
                await clerk.reload()
                await expect(clerk.locator("#history")).to_contain_text("ร้านข้าวซอยแม่มาลี")
                await expect(clerk.locator("#conversation .from-reporter").last).to_contain_text(
                    "ร้านข้าวซอยแม่มาลี"
                )

                forged = await clerk.request.post(
                    str(server.make_url("/desk/case/1/note")), form={"note": "ไม่มีโทเคน"}
                )
                assert forged.status == 403  # a form without its CSRF token

                await clerk.select_option("#action-transfer select[name=to]", index=0)
                await clerk.fill("#action-transfer textarea", "เป็นเรื่องของอีกกอง")
                await clerk.click("#action-transfer button")
                await expect(clerk.locator("#notice")).to_contain_text("โอนเรื่องแล้ว")
                gone = await clerk.goto(case_url)  # no longer theirs: as if there were no case
                assert gone is not None and gone.status == 404

                admin = await _signed_in(browser, await _desk_link(api, 880109))
                await admin.click("text=ผู้ดูแลระบบ")
                await admin.click(f"#remove-{clerk_id} button")
                await expect(admin.locator("#notice")).to_contain_text("ถอดออกแล้ว")
                await clerk.goto(str(server.make_url("/desk/")))
                await expect(clerk.locator("main")).to_contain_text("ยังไม่ได้เข้าสู่ระบบ")  # removed: out

                await admin.click("#sign-out button")
                await expect(admin.locator("main")).to_contain_text("ยังไม่ได้เข้าสู่ระบบ")
                await admin.goto(str(server.make_url("/desk/admin")))
                await expect(admin.locator("main")).to_contain_text("ยังไม่ได้เข้าสู่ระบบ")
            finally:
                await browser.close()


async def test_the_desk_fits_a_phone(desk: Desk, server: TestServer) -> None:
    """Every page at a phone's width (360 px): nothing wider than the screen but a table, which
    scrolls inside itself."""
    from playwright.async_api import async_playwright, expect

    await _tip_off(desk)
    await desk.add_staff("504", None, role="admin", name="ผู้ดูแลระบบ")
    link = await _link(desk, "504")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 360, "height": 740})
            await page.goto(link)
            await page.click("#sign-in")
            await expect(page.locator("#inbox")).to_contain_text("CM-2569-000001")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "desk-inbox-phone-th.png"), full_page=True)
            for path in ("/desk/", "/desk/case/CM-2569-000001", "/desk/dashboard", "/desk/plan",
                         "/desk/exports", "/desk/admin"):  # fmt: skip
                await page.goto(str(server.make_url(path)))
                wide = await page.evaluate("document.documentElement.scrollWidth")
                culprits = await page.evaluate(  # what sticks out, to say so if anything does
                    "[...document.querySelectorAll('body *')]"
                    ".filter(e => e.getBoundingClientRect().right > 361).slice(0, 5)"
                    ".map(e => `${e.tagName}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)"
                )
                assert wide <= 360, (path, wide, culprits)
        finally:
            await browser.close()
