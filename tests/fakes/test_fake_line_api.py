"""Proves FakeLineApi speaks the Messaging API well enough for the real line-bot-sdk v3 async client."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    CameraAction,
    Configuration,
    ImageMessage,
    LocationAction,
    LocationMessage,
    MessageAction,
    MulticastRequest,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
    TextMessage,
)
from linebot.v3.webhooks import (
    FileMessageContent,
    FollowEvent,
    GroupSource,
    ImageMessageContent,
    JoinEvent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)
from PIL import Image
from pydantic.v1 import ValidationError

from tests.fakes.fake_line_api import FakeLineApi

pytestmark = pytest.mark.asyncio


@dataclass
class Line:
    messaging: AsyncMessagingApi
    blob: AsyncMessagingApiBlob


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeLineApi]:
    async with FakeLineApi() as server:
        yield server


@pytest_asyncio.fixture
async def line(api: FakeLineApi) -> AsyncIterator[Line]:
    # One host for both: an explicit Configuration.host overrides the blob API's api-data host.
    config = Configuration(host=api.url, access_token=api.access_token)
    async with AsyncApiClient(config) as client:
        yield Line(AsyncMessagingApi(client), AsyncMessagingApiBlob(client))


def error_body(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (0, 120, 60)).save(buf, "PNG")
    return buf.getvalue()


async def test_reply_goes_to_the_chat_the_token_was_issued_for(api: FakeLineApi, line: Line) -> None:
    user, group = api.new_user_id(), api.new_group_id()
    event = api.make_event_text(user, "ขอแจ้งเรื่องถนนชำรุด", group_id=group)

    response = await line.messaging.reply_message(
        ReplyMessageRequest(reply_token=event["replyToken"], messages=[TextMessage(text="รับเรื่องแล้วครับ")])
    )

    assert len(response.sent_messages) == 1 and response.sent_messages[0].quote_token
    assert api.texts_to(group) == ["รับเรื่องแล้วครับ"]
    assert api.messages_to(user) == []
    [delivered] = api.delivered
    assert (delivered.via, delivered.to, delivered.retry_key) == ("reply", group, None)
    call = api.calls_of("reply")[0]
    assert call.headers["Authorization"] == f"Bearer {api.access_token}"
    assert call.headers["User-Agent"].startswith("line-bot-sdk-python/")
    assert call.body == {
        "replyToken": event["replyToken"],
        "messages": [{"type": "text", "text": "รับเรื่องแล้วครับ"}],
        "notificationDisabled": False,
    }
    assert "\\u0e23" in call.raw.decode()  # the SDK ASCII-escapes Thai on the wire


async def test_reply_token_is_single_use_and_expires(api: FakeLineApi, line: Line) -> None:
    user = api.new_user_id()
    token = api.make_event_follow(user)["replyToken"]
    request = ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="สวัสดี")])
    await line.messaging.reply_message(request)

    with pytest.raises(ApiException) as reused:
        await line.messaging.reply_message(request)
    assert reused.value.status == 400
    assert error_body(reused.value) == {"message": "Invalid reply token"}

    with pytest.raises(ApiException) as unknown:
        await line.messaging.reply_message(
            ReplyMessageRequest(reply_token="0" * 32, messages=[TextMessage(text="x")])
        )
    assert unknown.value.status == 400

    api.reply_token_ttl = 0.05
    stale = api.make_event_text(user, "hello")["replyToken"]
    await asyncio.sleep(0.1)  # let the token age past its TTL
    with pytest.raises(ApiException) as expired:
        await line.messaging.reply_message(
            ReplyMessageRequest(reply_token=stale, messages=[TextMessage(text="x")])
        )
    assert error_body(expired.value) == {"message": "Invalid reply token"}
    assert api.texts_to(user) == ["สวัสดี"]


async def test_push_with_retry_key_is_accepted_once(api: FakeLineApi, line: Line) -> None:
    user, key = api.new_user_id(), str(uuid.uuid4())
    request = PushMessageRequest(to=user, messages=[TextMessage(text="เรื่องของท่านได้รับการตอบกลับ")])

    first = await line.messaging.push_message_with_http_info(request, x_line_retry_key=key)
    assert first.status_code == 200
    with pytest.raises(ApiException) as again:
        await line.messaging.push_message(request, x_line_retry_key=key)

    assert again.value.status == 409
    assert error_body(again.value)["message"] == "The retry key is already accepted"
    assert again.value.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert api.texts_to(user) == ["เรื่องของท่านได้รับการตอบกลับ"]
    assert [d.retry_key for d in api.delivered] == [key]
    assert api.calls_of("push")[0].headers["X-Line-Retry-Key"] == key


async def test_retry_after_processed_500_is_not_delivered_twice(api: FakeLineApi, line: Line) -> None:
    user, key = api.new_user_id(), str(uuid.uuid4())
    request = PushMessageRequest(to=user, messages=[TextMessage(text="แจ้งเตือน")])
    api.fail_next("push", status=500, processed=True)

    with pytest.raises(ApiException) as failed:
        await line.messaging.push_message(request, x_line_retry_key=key)
    assert failed.value.status == 500
    with pytest.raises(ApiException) as retried:
        await line.messaging.push_message(request, x_line_retry_key=key)

    assert retried.value.status == 409
    assert api.texts_to(user) == ["แจ้งเตือน"]


async def test_injected_429_surfaces_as_api_exception(api: FakeLineApi, line: Line) -> None:
    user = api.new_user_id()
    request = PushMessageRequest(to=user, messages=[TextMessage(text="hi")])
    api.fail_next("push", status=429)
    api.fail_next("push", status=429, body={"message": "You have reached your monthly limit."})

    with pytest.raises(ApiException) as rate_limited:
        await line.messaging.push_message(request)
    assert (rate_limited.value.status, error_body(rate_limited.value)) == (
        429,
        {"message": "Too Many Requests"},
    )
    with pytest.raises(ApiException) as over_quota:
        await line.messaging.push_message(request)
    assert error_body(over_quota.value) == {"message": "You have reached your monthly limit."}

    await line.messaging.push_message(request)  # faults are used up
    assert api.texts_to(user) == ["hi"]
    assert [c.status for c in api.calls_of("push")] == [429, 429, 200]


async def test_quota_limit_and_consumption(api: FakeLineApi, line: Line) -> None:
    users = [api.new_user_id() for _ in range(2)]
    api.quota_limit = 2
    await line.messaging.multicast(MulticastRequest(to=users, messages=[TextMessage(text="ประกาศ")]))

    quota = await line.messaging.get_message_quota()
    assert (quota.type, quota.value) == ("limited", 2)
    assert (await line.messaging.get_message_quota_consumption()).total_usage == 2
    with pytest.raises(ApiException) as exc:
        await line.messaging.push_message(PushMessageRequest(to=users[0], messages=[TextMessage(text="x")]))
    assert (exc.value.status, error_body(exc.value)) == (
        429,
        {"message": "You have reached your monthly limit."},
    )
    assert [api.texts_to(u) for u in users] == [["ประกาศ"], ["ประกาศ"]]


async def test_delay_next_holds_the_call(api: FakeLineApi, line: Line) -> None:
    api.delay_next("push", 1, 0.3)
    started = time.monotonic()
    await line.messaging.push_message(
        PushMessageRequest(to=api.new_user_id(), messages=[TextMessage(text="x")])
    )
    assert time.monotonic() - started >= 0.3


async def test_content_download_returns_registered_bytes(api: FakeLineApi, line: Line) -> None:
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
    event = api.make_event_image(api.new_user_id(), "500000000000000001", content=photo)

    content = await line.blob.get_message_content(event["message"]["id"])
    assert bytes(content) == photo
    assert api.calls_of("content")[0].path == "/v2/bot/message/500000000000000001/content"

    api.fail_next("content", status=500)
    with pytest.raises(ApiException) as failed:
        await line.blob.get_message_content("500000000000000001")
    assert failed.value.status == 500
    with pytest.raises(ApiException) as missing:
        await line.blob.get_message_content("999")
    assert (missing.value.status, error_body(missing.value)) == (404, {"message": "Not found"})


async def test_quick_reply_limits(api: FakeLineApi, line: Line) -> None:
    user = api.new_user_id()
    items = [
        QuickReplyItem(action=PostbackAction(label="ถนน", data="cat=road", display_text="ถนน")),
        QuickReplyItem(action=MessageAction(label="อื่น ๆ", text="อื่น ๆ")),
        QuickReplyItem(action=LocationAction(label="ส่งตำแหน่ง")),
        QuickReplyItem(action=CameraAction(label="ถ่ายรูป")),
    ]
    ok = TextMessage(text="เลือกหมวด", quick_reply=QuickReply(items=items))
    await line.messaging.push_message(PushMessageRequest(to=user, messages=[ok]))
    assert api.messages_to(user)[0]["quickReply"]["items"][0]["action"]["data"] == "cat=road"

    fourteen = [QuickReplyItem(action=MessageAction(label=f"{i}", text=f"{i}")) for i in range(14)]
    with pytest.raises(ValidationError):  # the SDK itself refuses 14 items...
        QuickReply(items=fourteen)
    # ...so bypass its validation to prove the fake rejects them as LINE would.
    too_many = TextMessage(text="เลือก", quick_reply=QuickReply.construct(items=fourteen))
    with pytest.raises(ApiException) as exc:
        await line.messaging.push_message(PushMessageRequest(to=user, messages=[too_many]))
    assert exc.value.status == 400
    assert error_body(exc.value) == {
        "message": "The request body has 1 error(s)",
        "details": [{"message": "Size must be between 1 and 13", "property": "messages[0].quickReply.items"}],
    }

    long_label = QuickReplyItem(action=MessageAction(label="ป" * 21, text="x"))
    with pytest.raises(ApiException) as label_exc:
        await line.messaging.push_message(
            PushMessageRequest(
                to=user, messages=[TextMessage(text="x", quick_reply=QuickReply(items=[long_label]))]
            )
        )
    details = error_body(label_exc.value)["details"]
    assert details == [
        {
            "message": "Length must be between 1 and 20",
            "property": "messages[0].quickReply.items[0].action.label",
        }
    ]
    assert len(api.messages_to(user)) == 1


async def test_message_validation(api: FakeLineApi, line: Line) -> None:
    user = api.new_user_id()
    location = LocationMessage(title="ที่ว่าการอำเภอ", address="เชียงใหม่", latitude=18.79, longitude=98.98)
    image = ImageMessage(
        original_content_url="https://example.org/a.jpg", preview_image_url="https://example.org/p.jpg"
    )
    await line.messaging.push_message(PushMessageRequest(to=user, messages=[location, image]))
    assert [m["type"] for m in api.messages_to(user)] == ["location", "image"]

    bad = [
        TextMessage(text="ก" * 5001),
        ImageMessage(
            original_content_url="http://example.org/a.jpg", preview_image_url="https://example.org/p.jpg"
        ),
    ]
    with pytest.raises(ApiException) as exc:
        await line.messaging.push_message(PushMessageRequest(to=user, messages=bad))
    assert error_body(exc.value) == {
        "message": "The request body has 2 error(s)",
        "details": [
            {"message": "Length must be between 1 and 5000", "property": "messages[0].text"},
            {"message": "must be a HTTPS URL", "property": "messages[1].originalContentUrl"},
        ],
    }
    with pytest.raises(ApiException) as bad_to:
        await line.messaging.push_message(PushMessageRequest(to="Ualice", messages=[TextMessage(text="x")]))
    assert "'to'" in error_body(bad_to.value)["message"]
    assert len(api.delivered) == 1


async def test_auth_profile_and_group_summary(api: FakeLineApi, line: Line) -> None:
    user, group = api.new_user_id(), api.new_group_id()
    api.add_profile(user, "สมชาย", picture_url="https://example.org/u.jpg")
    api.make_event_join(group)

    profile = await line.messaging.get_profile(user)
    assert (profile.display_name, profile.language) == ("สมชาย", "th")
    summary = await line.messaging.get_group_summary(group)
    assert summary.group_id == group
    with pytest.raises(ApiException) as missing:
        await line.messaging.get_profile(api.new_user_id())
    assert missing.value.status == 404

    config = Configuration(host=api.url, access_token="wrong-token")
    async with AsyncApiClient(config) as client:
        with pytest.raises(ApiException) as unauthorized:
            await AsyncMessagingApi(client).get_profile(user)
    assert unauthorized.value.status == 401
    assert error_body(unauthorized.value)["message"].startswith("Authentication failed")


async def test_rich_menu_create_upload_and_set_default(api: FakeLineApi, line: Line) -> None:
    request = RichMenuRequest(
        size=RichMenuSize(width=2500, height=843),
        selected=True,
        name="main",
        chat_bar_text="เมนู",
        areas=[
            RichMenuArea(
                bounds=RichMenuBounds(x=0, y=0, width=1250, height=843),
                action=PostbackAction(label="แจ้งเรื่อง", data="menu=report"),
            ),
            RichMenuArea(
                bounds=RichMenuBounds(x=1250, y=0, width=1250, height=843),
                action=MessageAction(label="ติดตาม", text="ติดตามเรื่อง"),
            ),
        ],
    )
    menu_id = (await line.messaging.create_rich_menu(request)).rich_menu_id
    assert menu_id.startswith("richmenu-")

    with pytest.raises(ApiException) as no_image:
        await line.messaging.set_default_rich_menu(menu_id)
    assert no_image.value.status == 400
    with pytest.raises(TypeError):  # the blob API has no Content-Type of its own: json.dumps(bytes)
        await line.blob.set_rich_menu_image(menu_id, png(2500, 843))
    with pytest.raises(ApiException) as gif:
        await line.blob.set_rich_menu_image(menu_id, b"GIF89a", _headers={"Content-Type": "image/gif"})
    assert gif.value.status == 415
    with pytest.raises(ApiException) as wrong_size:
        await line.blob.set_rich_menu_image(menu_id, png(2500, 1686), _headers={"Content-Type": "image/png"})
    assert wrong_size.value.status == 400

    image = png(2500, 843)
    await line.blob.set_rich_menu_image(menu_id, image, _headers={"Content-Type": "image/png"})
    await line.messaging.set_default_rich_menu(menu_id)

    assert api.rich_menu_images[menu_id].data == image
    assert api.rich_menu_images[menu_id].content_type == "image/png"
    assert api.default_rich_menu_id == menu_id
    assert (await line.messaging.get_default_rich_menu_id()).rich_menu_id == menu_id
    menus = (await line.messaging.get_rich_menu_list()).richmenus
    assert [(m.rich_menu_id, m.chat_bar_text, len(m.areas)) for m in menus] == [(menu_id, "เมนู", 2)]
    assert bytes(await line.blob.get_rich_menu_image(menu_id)) == image

    await line.messaging.delete_rich_menu(menu_id)
    assert api.rich_menus == {} and api.default_rich_menu_id is None
    with pytest.raises(ApiException) as gone:
        await line.messaging.delete_rich_menu(menu_id)
    assert gone.value.status == 404


async def test_rich_menu_validation(api: FakeLineApi, line: Line) -> None:
    request = RichMenuRequest(
        size=RichMenuSize(width=2500, height=2500),
        selected=False,
        name="bad",
        chat_bar_text="เมนู",
        areas=[
            RichMenuArea(
                bounds=RichMenuBounds(x=2000, y=0, width=1000, height=100),
                action=PostbackAction(data="x"),
            )
        ],
    )
    with pytest.raises(ApiException) as exc:
        await line.messaging.create_rich_menu(request)
    props = [d["property"] for d in error_body(exc.value)["details"]]
    assert props == ["size", "areas[0].bounds"]


async def test_signed_webhook_parses_with_the_real_sdk(api: FakeLineApi) -> None:
    user, group = api.new_user_id(), api.new_group_id()
    events = [
        api.make_event_text(user, "สวัสดี", group_id=group),
        api.make_event_postback(user, "action=report&cat=road"),
        api.make_event_image(user, "600000000000000001"),
        api.make_event_file(user, "600000000000000002", "หลักฐาน.pdf", 2048),
        api.make_event_location(user, 18.7883, 98.9853, "ศาลากลาง"),
        api.make_event_sticker(user),
        api.make_event_follow(user),
        api.make_event_unfollow(user),
        api.make_event_join(group),
    ]
    body = api.webhook_body(events)
    assert b" " not in body.replace("ศาลากลาง".encode(), b"").replace("หลักฐาน.pdf".encode(), b"")
    assert "สวัสดี".encode() in body  # UTF-8, not \u-escaped

    parsed = WebhookParser(api.channel_secret).parse(body.decode("utf-8"), api.sign(body))

    assert [type(e) for e in parsed] == [
        MessageEvent,
        PostbackEvent,
        MessageEvent,
        MessageEvent,
        MessageEvent,
        MessageEvent,
        FollowEvent,
        UnfollowEvent,
        JoinEvent,
    ]
    text = parsed[0]
    assert isinstance(text.message, TextMessageContent) and text.message.text == "สวัสดี"
    assert isinstance(text.source, GroupSource) and text.source.user_id == user
    assert isinstance(parsed[1].source, UserSource)
    assert [type(e.message) for e in parsed[2:6]] == [
        ImageMessageContent,
        FileMessageContent,
        LocationMessageContent,
        StickerMessageContent,
    ]
    assert len({e.webhook_event_id for e in parsed}) == len(events)
    assert all(len(e.webhook_event_id) == 26 and not e.delivery_context.is_redelivery for e in parsed)

    again = api.redelivery(events[0])
    assert again["webhookEventId"] == events[0]["webhookEventId"]
    assert events[0]["deliveryContext"] == {"isRedelivery": False}
    redelivered_body = api.webhook_body([again])
    [redelivered] = WebhookParser(api.channel_secret).parse(
        redelivered_body.decode("utf-8"), api.sign(redelivered_body)
    )
    assert redelivered.delivery_context.is_redelivery
    with pytest.raises(InvalidSignatureError):
        WebhookParser("another-secret").parse(body.decode("utf-8"), api.sign(body))


async def test_post_webhook_and_wait_for_messages(api: FakeLineApi, line: Line) -> None:
    """A toy bot: verifies the signature, replies via the SDK; the fake sees the reply arrive."""
    parser = WebhookParser(api.channel_secret)

    async def webhook(request: web.Request) -> web.Response:
        try:
            events = parser.parse(await request.text(), request.headers["x-line-signature"])
        except InvalidSignatureError:
            return web.Response(status=400)
        for event in events:
            text = f"ได้รับ: {event.message.text}"
            await line.messaging.reply_message(
                ReplyMessageRequest(reply_token=event.reply_token, messages=[TextMessage(text=text)])
            )
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/callback", webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/callback"
    try:
        user = api.new_user_id()
        assert await api.post_webhook(url, [api.make_event_text(user, "ถนนพัง")]) == 200
        messages = await api.wait_for_messages(user, 1, timeout=2)
        assert messages[0]["text"] == "ได้รับ: ถนนพัง"
        assert await api.post_webhook(url, [api.make_event_text(user, "x")], signature="forged") == 400

        with pytest.raises(AssertionError, match=r"expected >= 2 message\(s\)") as timeout:
            await api.wait_for_messages(user, 2, timeout=0.1)
        assert "ได้รับ: ถนนพัง" in str(timeout.value) and "POST /v2/bot/message/reply -> 200" in str(
            timeout.value
        )
    finally:
        await runner.cleanup()
