"""An in-process Bot API transport for python-telegram-bot, and Telegram-shaped update JSON.

`LocalTransport` is a `telegram.request.BaseRequest`: python-telegram-bot encodes every call as it
would for the network (the parameters' JSON), and gets back the JSON Telegram would answer
(a full `Message` for sendMessage, `true` for answerCallbackQuery, the bot for getMe), parsed by
python-telegram-bot as usual. Nothing leaves the process.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import defaultdict
from typing import Any

from telegram.request import BaseRequest, RequestData

TOKEN = "123456:BENCH"
# update ids are unique per bot, across every factory (the engine drops a repeated one)
_UPDATE_IDS = itertools.count(500_000_001)
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Damrongtham", "username": "damrongtham_bench_bot"}


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Somchai", "username": f"citizen{chat_id}"}
    return {"id": chat_id, "type": "supergroup", "title": f"Staff {chat_id}"}


def _user(chat_id: int) -> dict[str, Any]:
    return {
        "id": chat_id,
        "is_bot": False,
        "first_name": "Somchai",
        "username": f"citizen{chat_id}",
        "language_code": "th",
    }


class LocalTransport(BaseRequest):
    """Answers the Bot API methods the bot uses, locally, with realistic JSON."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.message_ids: dict[int, int] = defaultdict(int)
        # per chat: the bot's latest message with an inline keyboard (what a press refers to)
        self.last_keyboard: dict[int, dict[str, Any]] = {}
        self.last_message: dict[int, dict[str, Any]] = {}
        self.sent_texts: dict[int, int] = defaultdict(int)

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def next_message_id(self, chat_id: int) -> int:
        self.message_ids[chat_id] += 1
        return self.message_ids[chat_id]

    def _message(self, params: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": self.next_message_id(chat_id),
            "from": BOT_USER,
            "chat": _chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
            self.last_keyboard[chat_id] = message
        self.last_message[chat_id] = message
        self.sent_texts[chat_id] += 1
        return message

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                **BOT_USER,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        if method == "sendMessage":
            return self._message(params, {"text": str(params.get("text", ""))})
        if method == "sendPhoto":
            photo = str(params.get("photo"))
            return self._message(
                params,
                {"photo": [{"file_id": photo, "file_unique_id": photo[:16], "width": 1280, "height": 960}]},
            )
        if method == "sendDocument":
            doc = str(params.get("document"))
            return self._message(params, {"document": {"file_id": doc, "file_unique_id": doc[:16]}})
        if method == "sendLocation":
            location = {"latitude": params.get("latitude"), "longitude": params.get("longitude")}
            return self._message(params, {"location": location})
        if method == "editMessageText":
            chat_id = int(params["chat_id"])
            return {
                "message_id": int(params["message_id"]),
                "from": BOT_USER,
                "chat": _chat(chat_id),
                "date": int(time.time()),
                "edit_date": int(time.time()),
                "text": str(params.get("text", "")),
            }
        return True  # answerCallbackQuery, setMyCommands, deleteWebhook ...

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        self.calls[api_method] += 1
        params: dict[str, Any] = {}
        if request_data is not None:
            # the encoding the HTTP transport would do, then read back as a server would
            params = {
                k: v if k in ("text", "caption", "callback_query_id") else _decode(v)
                for k, v in request_data.json_parameters.items()
            }
        body = {"ok": True, "result": self._answer(api_method, params)}
        return 200, json.dumps(body, ensure_ascii=False).encode()


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


class UpdateFactory:
    """Update JSON as Telegram sends it: messages from citizens and presses on the bot's keyboards."""

    def __init__(self, transport: LocalTransport) -> None:
        self.transport = transport
        self.callback_no = 0

    def _next_id(self) -> int:
        return next(_UPDATE_IDS)

    def text(self, chat_id: int, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.transport.next_message_id(chat_id),
            "from": _user(chat_id),
            "chat": _chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": self._next_id(), "message": message}

    def press(self, chat_id: int, data: str) -> dict[str, Any]:
        self.callback_no += 1
        message = self.transport.last_keyboard.get(chat_id) or self.transport.last_message.get(chat_id)
        if message is None:
            raise RuntimeError(f"chat {chat_id}: nothing to press")
        return {
            "update_id": self._next_id(),
            "callback_query": {
                "id": str(4_000_000_000_000_000_000 + self.callback_no),
                "from": _user(chat_id),
                "message": message,
                "chat_instance": str(int(hashlib.sha1(str(chat_id).encode()).hexdigest()[:15], 16)),
                "data": data,
            },
        }

    def buttons(self, chat_id: int) -> list[str]:
        """Callback data of the bot's latest inline keyboard in this chat."""
        message = self.transport.last_keyboard.get(chat_id)
        if message is None:
            return []
        rows = message["reply_markup"]["inline_keyboard"]
        return [str(b["callback_data"]) for row in rows for b in row if "callback_data" in b]
