"""The webhook inbox keeps order and sets a poison event aside; production refuses fake-looking secrets."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

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
    monkeypatch.setenv("DAMRONGTHAM_SECRET_KEY", Fernet.generate_key().decode())
    token = "123456789:" + "A" * 35
    # each refused when the settings are read, before any command starts anything
    with pytest.raises(SettingsError, match="TELEGRAM_BOT_TOKEN"):
        Settings(TELEGRAM_BOT_TOKEN="change-me-please")
    Settings(TELEGRAM_BOT_TOKEN=token).check_telegram_token()
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        Settings(TELEGRAM_BOT_TOKEN=token, TELEGRAM_WEBHOOK_SECRET="<paste-a-secret-here>")
    with pytest.raises(SettingsError, match="does not look real"):
        Settings(LINE_CHANNEL_SECRET="your-line-channel-secret", LINE_CHANNEL_ACCESS_TOKEN="t" * 120)
    assert Settings(
        LINE_CHANNEL_SECRET="0123456789abcdef" * 2, LINE_CHANNEL_ACCESS_TOKEN="t" * 120
    ).line_credentials()
    with pytest.raises(SettingsError, match="production needs TELEGRAM_BOT_TOKEN"):
        Settings()
    with pytest.raises(SettingsError, match="must be an https address in production"):
        Settings(TELEGRAM_BOT_TOKEN=token, DAMRONGTHAM_PUBLIC_URL="http://desk.example.org")
    monkeypatch.setenv("DAMRONGTHAM_SECRET_KEY", "change-me")
    with pytest.raises(SettingsError, match="DAMRONGTHAM_SECRET_KEY is missing or a placeholder"):
        Settings(TELEGRAM_BOT_TOKEN=token)


def test_bad_settings_are_refused_in_any_environment_each_named() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings(
            TELEGRAM_RATE_LIMITS="thirty", TELEGRAM_API_BASE_URL="api.telegram.org/bot",
            DAMRONGTHAM_SECRET_KEY="not-a-fernet-key",
        )  # fmt: skip
    problems = str(refused.value)
    for name in ("TELEGRAM_RATE_LIMITS", "TELEGRAM_API_BASE_URL", "DAMRONGTHAM_SECRET_KEY"):
        assert name in problems
    # development accepts plain http (a local stand-in) and no secret key (one is generated)
    Settings(
        TELEGRAM_API_BASE_URL="http://127.0.0.1:8081/bot", DAMRONGTHAM_PUBLIC_URL="http://localhost:8080"
    )
