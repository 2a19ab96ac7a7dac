"""The webhook inbox keeps order and sets a poison event aside; production refuses fake-looking secrets."""

from __future__ import annotations

import pytest

from bot.inbox import MAX_ATTEMPTS, Inbox
from bot.settings import Settings, SettingsError


async def test_a_failing_event_holds_later_ones_then_is_set_aside(sqlite_database, vault) -> None:  # type: ignore[no-untyped-def]
    handled: list[str] = []

    async def handler(event: dict) -> None:
        if event["n"] == "bad":
            raise RuntimeError("content server down")
        handled.append(event["n"])

    inbox = Inbox(sqlite_database, vault, {"line": handler})
    for n in ("1", "bad", "2"):
        await inbox.store("line", f"e{n}", {"n": n})
    assert await inbox.handle_pending() == 1 and handled == ["1"]  # "2" waits behind "bad"
    for _ in range(MAX_ATTEMPTS - 1):
        await inbox.handle_pending()
    assert handled == ["1", "2"]  # set aside after its last attempt; the queue moves on
    assert inbox.metrics.errors["inbox"] == MAX_ATTEMPTS
    assert await inbox.store("line", "e2", {"n": "2"}) is False  # a redelivery is stored once


def test_production_refuses_secrets_that_do_not_look_real(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DAMRONGTHAM_ENV", "production")
    with pytest.raises(SettingsError, match="TELEGRAM_BOT_TOKEN"):
        Settings(TELEGRAM_BOT_TOKEN="change-me-please").check_telegram_token()
    Settings(TELEGRAM_BOT_TOKEN="123456789:" + "A" * 35).check_telegram_token()
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        Settings(TELEGRAM_WEBHOOK_SECRET="<paste-a-secret-here>").webhook_secret()
    with pytest.raises(SettingsError, match="does not look real"):
        Settings(
            LINE_CHANNEL_SECRET="your-line-channel-secret", LINE_CHANNEL_ACCESS_TOKEN="t" * 120
        ).line_credentials()
    assert Settings(
        LINE_CHANNEL_SECRET="0123456789abcdef" * 2, LINE_CHANNEL_ACCESS_TOKEN="t" * 120
    ).line_credentials()
