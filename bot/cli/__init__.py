"""The `damrongtham` command line (Typer): one module per subject, registered on `app`."""

from __future__ import annotations

import sys

import typer

from bot.cli import chats, plan, records, setup, staff, triage, webchat  # noqa: F401  (registers the commands)
from bot.cli.common import app
from bot.settings import SettingsError

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        sys.exit(2)
