"""Runtime settings, read from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path("data")
PLACEHOLDERS = {"", "change-me", "changeme", "secret", "placeholder", "xxx", "token"}
WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # what Telegram accepts
LINE_SECRET_RE = re.compile(r"^[0-9a-f]{32}$")
TELEGRAM_TOKEN_RE = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")


class SettingsError(RuntimeError):
    """A setting is missing or unusable; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(default="", alias="DATABASE_URL")
    telegram_bot_token: str = Field(default="", alias="TELEGRAM_BOT_TOKEN")
    telegram_api_base_url: str = Field(default="https://api.telegram.org/bot", alias="TELEGRAM_API_BASE_URL")
    telegram_file_base_url: str = Field(
        default="https://api.telegram.org/file/bot", alias="TELEGRAM_FILE_BASE_URL"
    )
    # sent back by Telegram with every webhook delivery (X-Telegram-Bot-Api-Secret-Token)
    telegram_webhook_secret: str = Field(default="", alias="TELEGRAM_WEBHOOK_SECRET")
    line_channel_secret: str = Field(default="", alias="LINE_CHANNEL_SECRET")
    line_channel_access_token: str = Field(default="", alias="LINE_CHANNEL_ACCESS_TOKEN")
    line_api_base_url: str = Field(default="https://api.line.me", alias="LINE_API_BASE_URL")
    # https address of `damrongtham serve` (LINE shows images only from a public https URL)
    public_url: str = Field(default="", alias="DAMRONGTHAM_PUBLIC_URL")
    config_path: str = Field(default="", alias="DAMRONGTHAM_CONFIG")
    secret_key: str = Field(default="", alias="DAMRONGTHAM_SECRET_KEY")
    # lets /metrics answer on the public port too, to `Authorization: Bearer <this>`
    metrics_token: str = Field(default="", alias="DAMRONGTHAM_METRICS_TOKEN")
    # this process's name among those sharing one database, the same after a restart (default: the
    # machine's name, and for `serve` its port too)
    instance: str = Field(default="", alias="DAMRONGTHAM_INSTANCE", max_length=80)
    # Telegram's sending limits as count/seconds: overall, per private chat, per group
    telegram_rate_limits: str = Field(default="30/1,3/3,20/60", alias="TELEGRAM_RATE_LIMITS")
    # spare tracking codes a serving process keeps hashed (scrypt, slow by design) ahead of need:
    # a burst of up to this many reports takes codes hashed before it instead of hashing meanwhile
    tracking_codes_ahead: int = Field(default=256, ge=0, le=10_000, alias="DAMRONGTHAM_TRACKING_CODES_AHEAD")
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, alias="DAMRONGTHAM_DATA_DIR")
    env: Literal["development", "production"] = Field(default="development", alias="DAMRONGTHAM_ENV")
    log_level: str = Field(default="INFO", alias="DAMRONGTHAM_LOG_LEVEL")

    @model_validator(mode="after")
    def _fail_closed(self) -> Settings:
        """Every setting checked once, as it is read: a bad one stops `run`, `serve` and every
        command before anything starts, each problem named with what to do."""
        problems = [p for p in (*self._url_problems(), *self._secret_problems()) if p]
        try:
            self.rate_limits()
        except SettingsError as exc:
            problems.append(str(exc))
        if problems:
            # not a ValueError: pydantic would bury the advice in its own report
            raise SettingsError("\n".join(problems))
        return self

    def _url_problems(self) -> list[str]:
        urls = {
            "TELEGRAM_API_BASE_URL": self.telegram_api_base_url,
            "TELEGRAM_FILE_BASE_URL": self.telegram_file_base_url,
            "LINE_API_BASE_URL": self.line_api_base_url,
            "DAMRONGTHAM_PUBLIC_URL": self.public_url,
        }
        problems = []
        for name, url in urls.items():
            if name == "DAMRONGTHAM_PUBLIC_URL" and not url:
                continue
            parts = urlsplit(url.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(
                    f"{name} must be an http(s) address, e.g. https://example.org (it is {url!r})"
                )
            elif self.env == "production" and parts.scheme != "https":
                problems.append(f"{name} must be an https address in production (it is {url!r})")
        return problems

    def _secret_problems(self) -> list[str]:
        problems = []
        key = self.secret_key.strip()
        if key and key.lower() not in PLACEHOLDERS:
            try:
                _check_fernet_key(key)
            except SettingsError as exc:
                problems.append(str(exc))
        if self.env != "production":
            return problems
        if not key or key.lower() in PLACEHOLDERS:
            problems.append(
                "DAMRONGTHAM_SECRET_KEY is missing or a placeholder; production refuses to start. "
                "Generate one with: damrongtham secret generate"
            )
        checks: list[Callable[[], object]] = [self.check_telegram_token] if self.telegram_bot_token else []
        if self.telegram_webhook_secret:
            checks.append(self.webhook_secret)
        if self.line_enabled:
            checks.append(self.line_credentials)
        for check in checks:
            try:
                check()
            except SettingsError as exc:
                problems.append(str(exc))
        if not (self.telegram_bot_token or self.line_enabled):
            problems.append("production needs TELEGRAM_BOT_TOKEN or the LINE_CHANNEL_* settings")
        return problems

    def webhook_secret(self) -> str:
        """The Telegram webhook secret; required (and no placeholder) to serve the webhook."""
        secret = self.telegram_webhook_secret.strip()
        if not secret or secret.lower() in PLACEHOLDERS or not WEBHOOK_SECRET_RE.match(secret):
            raise SettingsError(
                "TELEGRAM_WEBHOOK_SECRET must be set to a random string of at least 16 characters "
                "(letters, digits, _ or -) to receive Telegram's webhook; generate one with: "
                "damrongtham secret generate --webhook"
            )
        return secret

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret or self.line_channel_access_token)

    def line_credentials(self) -> tuple[str, str]:
        """(channel secret, access token); both required, no placeholders."""
        secret, token = self.line_channel_secret.strip(), self.line_channel_access_token.strip()
        for name, value in (("LINE_CHANNEL_SECRET", secret), ("LINE_CHANNEL_ACCESS_TOKEN", token)):
            if not value or value.lower() in PLACEHOLDERS:
                raise SettingsError(
                    f"{name} is missing or a placeholder; copy it from the LINE Developers console."
                )
        # production: the real formats, so a copied example never starts a live service
        if self.env == "production" and (not LINE_SECRET_RE.match(secret) or len(token) < 100):
            raise SettingsError(
                "LINE_CHANNEL_SECRET (32 hex digits) or LINE_CHANNEL_ACCESS_TOKEN (a long-lived token) "
                "does not look real; copy them from the LINE Developers console."
            )
        return secret, token

    def check_telegram_token(self) -> None:
        if self.env == "production" and not TELEGRAM_TOKEN_RE.match(self.telegram_bot_token.strip()):
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN does not look like a token from @BotFather (digits:letters)."
            )

    @property
    def line_data_api_base_url(self) -> str:
        # Content lives on a separate host; a stand-in or staging server serves both.
        default = "https://api.line.me"
        return (
            "https://api-data.line.me"
            if self.line_api_base_url.rstrip("/") == default
            else self.line_api_base_url
        )

    def rate_limits(self) -> tuple[tuple[int, float], tuple[int, float], tuple[int, float]]:
        try:
            parts = [p.split("/") for p in self.telegram_rate_limits.split(",")]
            overall, private, group = ((int(n), float(sec)) for n, sec in parts)
        except ValueError as exc:
            raise SettingsError(
                "TELEGRAM_RATE_LIMITS is count/seconds for overall, private chats and groups, "
                "e.g. 30/1,3/3,20/60"
            ) from exc
        return overall, private, group

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'damrongtham.sqlite3').as_posix()}"

    def resolved_secret_key(self) -> str:
        """The Fernet key for personal data.

        Production fails closed; development generates one key once into the data folder
        so that a restart can still read what it encrypted.
        """
        key = self.secret_key.strip()
        if key and key.lower() not in PLACEHOLDERS:
            _check_fernet_key(key)
            return key
        if self.env == "production":
            raise SettingsError(
                "DAMRONGTHAM_SECRET_KEY is missing or a placeholder; production refuses to start. "
                "Generate one with: damrongtham secret generate"
            )
        key_file = self.data_dir / "secret.key"
        if key_file.exists():
            key = key_file.read_text().strip()
            _check_fernet_key(key)
            return key
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key().decode()
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        log.warning(
            "DAMRONGTHAM_SECRET_KEY is not set: generated a development key in %s. "
            "Back it up; without it, encrypted personal data cannot be read.",
            key_file,
        )
        return key


def _check_fernet_key(key: str) -> None:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError) as exc:
        raise SettingsError(
            "DAMRONGTHAM_SECRET_KEY must be a Fernet key (32 url-safe base64 bytes); "
            "generate one with: damrongtham secret generate"
        ) from exc
