"""Logging setup. Messages never carry personal data; control characters are stripped anyway."""

from __future__ import annotations

import logging
import re
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
