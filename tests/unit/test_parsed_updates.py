"""Updates fetched by getUpdates are parsed once: their lane takes the parsed update, not the copy."""

from __future__ import annotations

from telegram import Bot, Update

from bot.channels.telegram import ParsedUpdates


def _update(update_id: int, text: str) -> Update:
    payload = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_790_000_000,
            "chat": {"id": 42, "type": "private", "first_name": "Somchai"},
            "from": {"id": 42, "is_bot": False, "first_name": "Somchai", "language_code": "th"},
            "text": text,
        },
    }
    return Update.de_json(payload, Bot("1:x"))


def test_a_kept_update_is_taken_once_then_parsed_from_its_stored_copy() -> None:
    parsed = ParsedUpdates(Bot("1:x"))
    first, second = _update(1, "สวัสดี"), _update(2, "/start")
    parsed.keep([first, second])

    assert parsed.take(second.to_dict()) is second
    assert parsed.take(first.to_dict()) is first
    again = parsed.take(first.to_dict())  # a retry of its lane, or after a restart
    assert again is not first and again == first and again.message.text == "สวัสดี"  # type: ignore[union-attr]


def test_updates_not_stored_or_never_handled_here_are_not_held() -> None:
    parsed = ParsedUpdates(Bot("1:x"), limit=2)
    updates = [_update(i, f"text {i}") for i in range(1, 4)]
    parsed.keep(updates)  # the oldest is let go beyond the limit
    assert parsed.take(updates[0].to_dict()) is not updates[0]
    parsed.forget(updates[1:])  # their store failed: they were answered straight away instead
    assert all(parsed.take(u.to_dict()) is not u for u in updates[1:])
    assert all(parsed.take(u.to_dict()) == u for u in updates)
