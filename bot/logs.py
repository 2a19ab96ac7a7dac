"""Logging setup. Messages never carry personal data; control characters are stripped anyway."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class SafeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _CONTROL.sub("?", super().format(record))


def setup_logging(level: str = "INFO", *, file: Path | None = None) -> None:
    """Logs to the terminal; with `file`, to that file, and only warnings to the terminal (the
    console chat shares the terminal with the conversation)."""
    formatter = SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    screen = logging.StreamHandler()
    screen.setFormatter(formatter)
    handlers: list[logging.Handler] = [screen]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(file, encoding="utf-8")
        to_file.setFormatter(formatter)
        screen.setLevel(logging.WARNING)
        handlers.append(to_file)
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    # httpx logs every request URL, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def log_failed_pass(log: logging.Logger, worker: str, streak: int) -> None:
    """A background worker's pass failed `streak` times in a row (inside an `except`): an outage is
    logged once with its traceback, then briefly every 60th pass, not once a second."""
    if streak == 1:
        log.exception("%s pass failed; retrying shortly", worker)
    elif streak % 60 == 0:
        log.warning("%s passes still failing (%d in a row)", worker, streak)


class Outage:
    """Failures of one kind (a webhook's deliveries refused while the database is away): the first
    is logged with its traceback, then one summary line at most every `every` seconds, then the
    end. A 15-second outage once wrote 173,841 lines; now it writes three."""

    def __init__(self, log: logging.Logger, what: str, *, every: float = 60.0) -> None:
        self.log, self.what, self.every = log, what, every
        self.failures = 0
        self._since = self._told = 0.0

    def failed(self) -> None:
        """Inside an `except`: one more failure."""
        now = time.monotonic()
        self.failures += 1
        if self.failures == 1:
            self._since = self._told = now
            self.log.exception("%s failed; logged once until it works again", self.what)
        elif now - self._told >= self.every:
            self._told = now
            self.log.warning(
                "%s still failing: %d failures in %.0f s", self.what, self.failures, now - self._since
            )

    def ended(self) -> None:
        """It worked: an outage, if there was one, is over."""
        if self.failures:
            self.log.warning(
                "%s works again after %d failures in %.0f s",
                self.what, self.failures, time.monotonic() - self._since,
            )  # fmt: skip
            self.failures = 0
