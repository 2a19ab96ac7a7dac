"""LINE end to end: signed webhooks into `damrongtham serve`, replies and pushes to a stand-in LINE API."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from sqlalchemy import select
from yarl import URL

from bot.app import App, build_app, run_server
from bot.settings import Settings
from bot.web import BODY_SECONDS, MAX_BODY, UNSIGNED_BYTES
from handlers.cases.delivery import held_file
from storage import chats as chat_repo
from storage.models import Attachment, Case
from tests.fakes.fake_line_api import FakeLineApi
from tests.support.replicas import free_port


@dataclass
class LineBot:
    api: FakeLineApi
    app: App
    webhook: str

    async def send(self, event: dict) -> int:
        return await self.api.post_webhook(self.webhook, [event])

    async def expect(self, chat_id: str, before: int, text: str) -> str:
        for _ in range(500):  # up to 10 s: a rate-limited push waits 5 s before its retry
            texts = self.api.texts_to(chat_id)[before:]
            if any(text in t for t in texts):
                await asyncio.sleep(0.05)
                return "\n".join(self.api.texts_to(chat_id)[before:])
            await asyncio.sleep(0.02)
        raise AssertionError(f"{text!r} not in {self.api.texts_to(chat_id)[before:]}")

    def quick_reply(self, chat_id: str, label: str) -> str:
        for message in reversed(self.api.messages_to(chat_id)):
            items = (message.get("quickReply") or {}).get("items") or []
            for item in items:
                action = item["action"]
                if label in action.get("label", "") or label in action.get("displayText", ""):
                    return str(action["data"])
        raise AssertionError(f"no quick reply {label!r}")

    async def say(self, user: str, text: str, expect: str) -> str:
        before = len(self.api.texts_to(user))
        assert await self.send(self.api.make_event_text(user, text)) == 200
        return await self.expect(user, before, expect)

    async def press(self, user: str, label: str, expect: str) -> str:
        before = len(self.api.texts_to(user))
        assert await self.send(self.api.make_event_postback(user, self.quick_reply(user, label))) == 200
        return await self.expect(user, before, expect)


@pytest.fixture
async def line(db_url: str, secret_key: str, tmp_path) -> AsyncIterator[LineBot]:  # type: ignore[no-untyped-def]
    async with FakeLineApi() as api:
        settings = Settings(
            DATABASE_URL=db_url,
            DAMRONGTHAM_SECRET_KEY=secret_key,
            DAMRONGTHAM_DATA_DIR=str(tmp_path / "data"),
            LINE_CHANNEL_SECRET=api.channel_secret,
            LINE_CHANNEL_ACCESS_TOKEN=api.access_token,
            LINE_API_BASE_URL=api.url,
        )
        app = await build_app(settings)
        port = free_port()
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(run_server(app, host="127.0.0.1", port=port, stop=stop, ready=ready))
        await asyncio.wait_for(ready.wait(), 15)
        yield LineBot(api, app, f"http://127.0.0.1:{port}/line/webhook")
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        await app.close()


async def _bind_group(bot: LineBot, division: str) -> str:
    group = FakeLineApi.new_group_id()
    d = bot.app.services.directory
    async with bot.app.db.session() as s:
        await chat_repo.bind_chat(
            s,
            org_id=d.org_ids["CM"],
            target=f"division:{division}",
            division_id=d.division_ids[("CM", division)],
            channel="line",
            chat_id=group,
            vault=bot.app.services.vault,
        )
        await s.commit()
    return group


async def test_a_citizen_reports_on_line_with_a_photo_and_a_location(line: LineBot) -> None:
    api = line.api
    office = await _bind_group(line, "office")
    user = FakeLineApi.new_user_id()
    welcome = await line.say(user, "/start", "กรุณาเลือกเรื่องที่ต้องการแจ้ง")
    assert "ศูนย์ดำรงธรรม" in welcome
    assert api.delivered[-1].via == "reply"  # the free reply token first
    await line.press(user, "ร้องเรียน", "บุคลากร")
    await line.press(user, "ไม่ใช่", "ส่วนราชการใด")
    await line.press(user, "ข้าม", "ประเภท")
    await line.press(user, "ถนน", "รายละเอียด")
    await line.say(user, "ถนนสายแม่ริม-สะเมิงมีหลุมลึกหลายจุด อันตรายมาก", "เมื่อใด")
    await line.press(user, "ข้าม", "ที่ใด")
    before = len(api.texts_to(user))
    await line.send(api.make_event_location(user, 18.9167, 98.9043))
    await line.expect(user, before, "มีผู้เกี่ยวข้อง")
    await line.press(user, "ข้าม", "หลักฐาน")
    photo = b"\xff\xd8\xff\xe0 pothole photo bytes"
    before = len(api.texts_to(user))
    await line.send(api.make_event_image(user, "500001", content=photo))
    await line.expect(user, before, "ได้รับไฟล์แล้ว (1/5)")
    await line.press(user, "เสร็จแล้ว", "ไม่เปิดเผยชื่อ")
    await line.press(user, "ไม่เปิดเผยชื่อ", "สรุป")
    answer = await line.press(user, "ส่งเรื่อง", "รหัสติดตาม")
    assert "CM-2569-000001" in answer or "CM-25" in answer
    sent = await api.wait_for_messages(office, 3)
    # media first, the card with its action buttons last (LINE shows quick replies on the latest message)
    assert [m["type"] for m in sent] == ["text", "location", "text"]
    assert "ถนนสายแม่ริม" in sent[-1]["text"] and sent[-1]["quickReply"]["items"]
    assert user not in json.dumps(sent, ensure_ascii=False)
    sha = hashlib.sha256(photo).hexdigest()
    async with line.app.db.session() as s:
        attachment = (await s.execute(select(Attachment))).scalar_one()
        assert attachment.sha256 == sha and attachment.channel == "line"
        assert (await s.execute(select(Case.reporter_channel))).scalar_one() == "line"
    stored = line.app.settings.data_dir / "files" / "cases" / str(attachment.case_id) / sha
    # kept, as LINE deletes content after a while; encrypted at rest, under the case's key
    assert photo not in stored.read_bytes() and await held_file(line.app.services, sha) == photo
    assert line.app.files.staged() == []


async def test_signatures_bodies_and_redeliveries(line: LineBot) -> None:
    api = line.api
    user = FakeLineApi.new_user_id()
    event = api.make_event_text(user, "/start")
    body = api.webhook_body([event])
    good = api.sign(body)
    async with aiohttp.ClientSession() as http:

        async def post(data: bytes, headers: dict[str, str]) -> int:
            async with http.post(
                line.webhook, data=data, headers={"Content-Type": "application/json", **headers}
            ) as r:
                return r.status

        tampered = bytearray(body)
        tampered[-3] ^= 1
        assert await post(bytes(tampered), {"x-line-signature": good}) == 401
        reserialised = json.dumps(json.loads(body), indent=1).encode()
        assert await post(reserialised, {"x-line-signature": good}) == 401
        assert await post(body, {}) == 401
        assert await post(b"{oops", {"x-line-signature": api.sign(b"{oops")}) == 400
        huge = b'{"events": [], "x": "' + b"y" * (1024 * 1024) + b'"}'
        assert await post(huge, {"x-line-signature": api.sign(huge)}) == 413
        assert api.texts_to(user) == []
        assert await post(body, {"x-line-signature": good}) == 200
    await api.wait_for_messages(user, 1)
    redelivered = api.redelivery(event)
    assert await api.post_webhook(line.webhook, [redelivered]) == 200
    await asyncio.sleep(0.5)
    assert len(api.texts_to(user)) == 1  # handled once


async def test_push_after_the_reply_token_expires_with_a_retry_key_never_twice(line: LineBot) -> None:
    api = line.api
    api.reply_token_ttl = 0  # every token has expired by the time we answer
    user = FakeLineApi.new_user_id()
    # the first push reaches LINE but the answer is lost: the retry carries the same key
    api.fail_next("push", 1, status=500, processed=True)
    await line.say(user, "/help", "วิธีใช้")
    pushes = [d for d in api.delivered if d.to == user]
    assert pushes and all(d.via == "push" and d.retry_key for d in pushes)
    await asyncio.sleep(2.5)  # the outbox retries; LINE answers 409 for the accepted key
    assert api.texts_to(user).count(api.texts_to(user)[0]) == 1
    assert any(c.status == 409 for c in api.calls_of("push"))


async def test_a_rate_limited_push_is_retried_without_loss(line: LineBot) -> None:
    api = line.api
    api.reply_token_ttl = 0
    user = FakeLineApi.new_user_id()
    api.fail_next("push", 1, status=429)
    text = await line.say(user, "/privacy", "ความเป็นส่วนตัว")
    assert "ความเป็นส่วนตัว" in text
    assert len(api.texts_to(user)) == 1


async def test_staff_in_a_line_group_accept_from_quick_replies(line: LineBot) -> None:
    from storage.staff import add_staff

    api = line.api
    personnel = await _bind_group(line, "personnel")
    officer = FakeLineApi.new_user_id()
    d = line.app.services.directory
    async with line.app.db.session() as s:
        await add_staff(s, org_id=d.org_ids["CM"], channel="line", user_id=officer, role="staff",
                        division_id=d.division_ids[("CM", "personnel")], display_name="วิไล")  # fmt: skip
        await s.commit()
    user = FakeLineApi.new_user_id()
    await line.say(user, "/start", "กรุณาเลือก")
    for label, expect in (
        ("ร้องเรียน", "บุคลากร"),
        ("ใช่", "ส่วนราชการใด"),
        ("ข้าม", "ประเภท"),
        ("บริการ", "รายละเอียด"),
    ):
        await line.press(user, label, expect)
    await line.say(user, "เจ้าหน้าที่พูดจาไม่สุภาพกับผู้มาติดต่อ", "เมื่อใด")
    for label, expect in (("ข้าม", "ที่ใด"), ("ข้าม", "ผู้เกี่ยวข้อง"), ("ข้าม", "หลักฐาน"), ("ข้าม", "ไม่เปิดเผยชื่อ"),
                          ("ไม่เปิดเผยชื่อ", "สรุป"), ("ส่งเรื่อง", "รหัสติดตาม")):  # fmt: skip
        await line.press(user, label, expect)
    await api.wait_for_messages(personnel, 1)
    accept = line.quick_reply(personnel, "รับเรื่อง")
    stranger = FakeLineApi.new_user_id()
    await line.send(api.make_event_postback(stranger, accept, group_id=personnel))
    await line.expect(personnel, 0, "ไม่มีสิทธิ์")
    await line.send(api.make_event_postback(officer, accept, group_id=personnel))
    await line.expect(user, 0, "ได้รับการตอบรับแล้ว")


async def test_rich_menu_shortcuts_start_the_flow(line: LineBot) -> None:
    api = line.api
    user = FakeLineApi.new_user_id()
    assert await line.send(api.make_event_postback(user, "m.grievance")) == 200
    await line.expect(user, 0, "เกี่ยวข้องกับบุคลากร")
    before = len(api.texts_to(user))
    assert await line.send(api.make_event_postback(user, "m.lang")) == 200
    await line.expect(user, before, "ยังกรอกไม่เสร็จ")  # a report in progress is never dropped


async def test_long_lists_are_shown_a_page_at_a_time(line: LineBot) -> None:
    from kernel.messages import Button, Reply

    api = line.api
    user = FakeLineApi.new_user_id()
    sender = line.app.dispatcher.senders["line"]
    buttons = [[Button(f"รายการ {n}", f"p.i.{n}.2570.6m")] for n in range(1, 21)]
    await sender.send(user, Reply(text="เลือกรายการ", buttons=buttons, idempotency_key="list-1"))
    first = (await api.wait_for_messages(user, 1))[-1]["quickReply"]["items"]
    assert len(first) == 13 and first[-1]["action"]["data"] == "lp.1"
    assert await line.send(api.make_event_postback(user, "lp.1")) == 200
    second = (await api.wait_for_messages(user, 2))[-1]["quickReply"]["items"]
    assert [i["action"]["label"] for i in second] == [f"รายการ {n}" for n in range(13, 21)]


async def test_the_more_press_is_answered_by_another_process_on_the_same_database(line: LineBot) -> None:
    """Replicas behind a load balancer (issue 18): the list was sent by one, its "more" press may
    reach another, which has none of the first's memory; the list is read from the database."""
    from linebot.v3.webhooks import Event

    from bot.channels.line import LineChannel
    from kernel.messages import Button, Reply

    api, app = line.api, line.app
    user = FakeLineApi.new_user_id()
    buttons = [[Button(f"รายการ {n}", f"p.i.{n}.2570.6m")] for n in range(1, 21)]
    await app.dispatcher.senders["line"].send(user, Reply(text="เลือกรายการ", buttons=buttons))
    await api.wait_for_messages(user, 1)
    other = LineChannel(
        access_token=api.access_token, api_base_url=api.url,
        data_api_base_url=app.settings.line_data_api_base_url,
        files=app.files, db=app.db, vault=app.services.vault,
    )  # fmt: skip
    try:
        assert await other.to_incoming(Event.from_dict(api.make_event_postback(user, "lp.1"))) is None
    finally:
        await other.close()
    second = (await api.wait_for_messages(user, 2))[-1]["quickReply"]["items"]
    assert [i["action"]["label"] for i in second] == [f"รายการ {n}" for n in range(13, 21)]


async def test_line_setup_creates_the_rich_menu(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from bot.cli import app

    async with FakeLineApi() as api:
        monkeypatch.setenv("LINE_CHANNEL_SECRET", api.channel_secret)
        monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", api.access_token)
        monkeypatch.setenv("LINE_API_BASE_URL", api.url)
        result = await asyncio.to_thread(CliRunner().invoke, app, ["line", "setup"])
        assert result.exit_code == 0, result.output
        menu_id = api.default_rich_menu_id
        assert menu_id and api.rich_menu_images[menu_id].content_type == "image/png"
        areas = api.rich_menus[menu_id]["areas"]
        assert [a["action"]["data"] for a in areas] == ["m.corruption", "m.grievance", "m.track", "m.lang"]


def test_production_refuses_placeholder_line_secrets(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("DAMRONGTHAM_ENV", "production")
    monkeypatch.setenv("DAMRONGTHAM_SECRET_KEY", "x" * 10)
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "change-me")
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "token")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "DAMRONGTHAM_SECRET_KEY" in result.output or "LINE_CHANNEL_SECRET" in result.output
    from cryptography.fernet import Fernet

    monkeypatch.setenv("DAMRONGTHAM_SECRET_KEY", Fernet.generate_key().decode())
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2 and "LINE_CHANNEL_SECRET" in result.output


async def test_a_line_group_binds_itself_with_a_one_time_code(line: LineBot) -> None:
    from datetime import UTC, datetime, timedelta

    from storage.staff import create_code

    async with line.app.db.session() as s:
        code = await create_code(s, org_id=1, purpose="bind", target="division:finance", role="staff",
                                 now=datetime.now(UTC), ttl=timedelta(days=1))  # fmt: skip
        await s.commit()
    group, member = FakeLineApi.new_group_id(), FakeLineApi.new_user_id()
    assert await line.send(line.api.make_event_text(member, f"/bind {code}", group_id=group)) == 200
    await line.expect(group, 0, "แชตนี้จะรับเรื่องของกองคลัง")


async def test_a_document_is_fetched_and_kept_too(line: LineBot) -> None:
    api = line.api
    user = FakeLineApi.new_user_id()
    for what, expect in (("/start", "กรุณาเลือก"),):
        await line.say(user, what, expect)
    for label, expect in (
        ("ร้องเรียน", "บุคลากร"),
        ("ไม่ใช่", "ส่วนราชการใด"),
        ("ข้าม", "ประเภท"),
        ("น้ำ", "รายละเอียด"),
    ):
        await line.press(user, label, expect)
    await line.say(user, "น้ำประปาขุ่นมากหลายวันแล้ว", "เมื่อใด")
    await line.press(user, "ข้าม", "ที่ใด")
    await line.press(user, "ข้าม", "ผู้เกี่ยวข้อง")
    await line.press(user, "ข้าม", "หลักฐาน")
    pdf = b"%PDF-1.4 water test report"
    before = len(api.texts_to(user))
    await line.send(api.make_event_file(user, "600001", "water-test.pdf", len(pdf), content=pdf))
    await line.expect(user, before, "ได้รับไฟล์แล้ว (1/5)")
    assert line.app.files.read(hashlib.sha256(pdf).hexdigest()) == pdf


async def test_voice_and_video_messages_are_fetched_and_kept_as_evidence(line: LineBot) -> None:
    api, user = line.api, FakeLineApi.new_user_id()
    await line.say(user, "/start", "เล่าเรื่องที่เกิดขึ้นด้วยคำพูดของท่านเอง")
    for number, (message_id, kind, data) in enumerate(
        (("700001", "audio", b"m4a voice note"), ("700002", "video", b"mp4 video clip")), start=1
    ):
        before = len(api.texts_to(user))
        await line.send(api.make_event_media(user, message_id, kind, content=data))
        await line.expect(user, before, f"ได้รับไฟล์แล้ว ({number}/5)")
        assert line.app.files.read(hashlib.sha256(data).hexdigest()) == data  # LINE keeps content briefly


async def test_the_monthly_quota_is_reported_once_and_messages_wait(line: LineBot, caplog) -> None:  # type: ignore[no-untyped-def]
    from storage.models import OutboxMessage

    api = line.api
    api.reply_token_ttl = 0
    api.quota_limit = 0  # every push is over the monthly limit
    coordinators = FakeLineApi.new_group_id()
    d = line.app.services.directory
    async with line.app.db.session() as s:
        await chat_repo.bind_chat(
            s,
            org_id=d.org_ids["CM"],
            target="coordinators",
            division_id=None,
            channel="line",
            chat_id=coordinators,
            vault=line.app.services.vault,
        )
        await s.commit()
    for _ in range(2):
        user = FakeLineApi.new_user_id()
        assert await line.send(api.make_event_text(user, "/help")) == 200
    await asyncio.sleep(1.5)
    assert caplog.text.count("LINE monthly push quota reached") == 1
    async with line.app.db.session() as s:
        rows = (await s.execute(select(OutboxMessage.kind, OutboxMessage.status))).all()
    assert ("alert", "pending") in rows  # the coordinators are told (once LINE lets messages through)
    assert all(status in ("pending", "sending") for _, status in rows)  # nothing dropped


async def test_evidence_from_line_reaches_telegram_staff_and_line_staff_by_a_signed_link(
    db_url: str, secret_key: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.fake_bot_api import FakeBotApi

    async with FakeLineApi() as lapi, FakeBotApi() as tapi:
        settings = Settings(
            DATABASE_URL=db_url,
            DAMRONGTHAM_SECRET_KEY=secret_key,
            DAMRONGTHAM_DATA_DIR=str(tmp_path / "data"),
            LINE_CHANNEL_SECRET=lapi.channel_secret,
            LINE_CHANNEL_ACCESS_TOKEN=lapi.access_token,
            LINE_API_BASE_URL=lapi.url,
            TELEGRAM_BOT_TOKEN=tapi.token,
            TELEGRAM_API_BASE_URL=tapi.base_url,
            TELEGRAM_FILE_BASE_URL=tapi.base_file_url,
            TELEGRAM_WEBHOOK_SECRET="w" * 20,
            DAMRONGTHAM_PUBLIC_URL="https://desk.example.org",
            TELEGRAM_RATE_LIMITS="1000/1,1000/1,1000/1",
        )
        app = await build_app(settings)
        port = free_port()
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(run_server(app, host="127.0.0.1", port=port, stop=stop, ready=ready))
        await asyncio.wait_for(ready.wait(), 15)
        bot = LineBot(lapi, app, f"http://127.0.0.1:{port}/line/webhook")
        try:
            d = app.services.directory
            line_group = FakeLineApi.new_group_id()
            async with app.db.session() as s:
                for channel, chat in (("telegram", "-100777"), ("line", line_group)):
                    await chat_repo.bind_chat(
                        s, org_id=d.org_ids["CM"], target="division:office",
                        division_id=d.division_ids[("CM", "office")], channel=channel, chat_id=chat,
                        vault=app.services.vault,
                    )  # fmt: skip
                await s.commit()
            user = FakeLineApi.new_user_id()
            await bot.say(user, "/start", "กรุณาเลือก")
            for label, expect in (
                ("ร้องเรียน", "บุคลากร"),
                ("ไม่ใช่", "ส่วนราชการใด"),
                ("ข้าม", "ประเภท"),
                ("ถนน", "รายละเอียด"),
            ):
                await bot.press(user, label, expect)
            await bot.say(user, "ไฟส่องสว่างบนถนนดับทั้งสาย", "เมื่อใด")
            for label, expect in (("ข้าม", "ที่ใด"), ("ข้าม", "ผู้เกี่ยวข้อง"), ("ข้าม", "หลักฐาน")):
                await bot.press(user, label, expect)
            photo = b"\xff\xd8\xff\xe0 street light photo"
            before = len(lapi.texts_to(user))
            await bot.send(lapi.make_event_image(user, "700001", content=photo))
            await bot.expect(user, before, "ได้รับไฟล์แล้ว")
            for label, expect in (("เสร็จแล้ว", "ไม่เปิดเผยชื่อ"), ("ไม่เปิดเผยชื่อ", "สรุป"), ("ส่งเรื่อง", "รหัสติดตาม")):
                await bot.press(user, label, expect)
            telegram = await tapi.wait_for_messages(-100777, 2)
            # both are read back from the copy under the case's key: the first copy went at submit
            assert app.files.staged() == []
            assert telegram[1].method == "sendPhoto" and not isinstance(telegram[1].params.get("photo"), str)
            image = next(m for m in await lapi.wait_for_messages(line_group, 2) if m["type"] == "image")
            url = image["originalContentUrl"]
            assert url.startswith("https://desk.example.org/files/")
            local = url.replace("https://desk.example.org", f"http://127.0.0.1:{port}")
            async with aiohttp.ClientSession() as http:
                async with http.get(local) as ok:
                    assert ok.status == 200 and await ok.read() == photo
                async with http.get(local.replace("sig=", "sig=0")) as forged:
                    assert forged.status == 403
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 15)
            await app.close()


async def _raw_post(
    webhook: str, head: dict[str, str], body: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A POST to the webhook whose body may be incomplete: what a slow or hostile sender does."""
    url = URL(webhook)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    lines = [f"POST {url.path} HTTP/1.1", f"Host: {url.host}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in head.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    return reader, writer


async def _status(reader: asyncio.StreamReader, within: float) -> int:
    return int((await asyncio.wait_for(reader.readline(), within)).split()[1])


async def test_webhook_bodies_are_timed_out_bounded_and_a_sender_leaving_is_quiet(
    line: LineBot, caplog
) -> None:  # type: ignore[no-untyped-def]
    signed = {"X-Line-Signature": "bm90IGNoZWNrZWQgeWV0"}
    # no signature at all: refused before a byte of the body is read
    reader, writer = await _raw_post(line.webhook, {"Content-Length": "1000"}, b"{")
    assert await _status(reader, 2) == 401
    writer.close()

    # a body trickling in is cut off, and the connection closed
    started = time.monotonic()
    reader, writer = await _raw_post(line.webhook, {**signed, "Content-Length": "1000"}, b'{"ev')
    assert await _status(reader, BODY_SECONDS + 2) == 408
    await asyncio.wait_for(reader.read(), 5)  # the end of the connection
    assert time.monotonic() - started < BODY_SECONDS + 4
    writer.close()

    # bodies held open are bounded together: past the budget, the next is told to come back
    held = [
        await _raw_post(line.webhook, {**signed, "Content-Length": str(MAX_BODY)}, b"{")
        for _ in range(UNSIGNED_BYTES // MAX_BODY)
    ]
    await asyncio.sleep(0.3)
    reader, writer = await _raw_post(line.webhook, {**signed, "Content-Length": str(MAX_BODY)}, b"{")
    assert await _status(reader, 2) == 503
    writer.close()
    # senders that leave mid-body free their share at once, with no traceback in the log
    caplog.clear()
    for _reader, held_writer in held:
        held_writer.transport.abort()
    await asyncio.sleep(0.5)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    user = FakeLineApi.new_user_id()
    await line.say(user, "/start", "กรุณาเลือก")  # a real delivery goes through
