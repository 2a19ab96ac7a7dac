"""`damrongtham triage`: what a citizen's own words suggest, as the bot would suggest it."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from bot.cli.common import OrgOption, app, load_orgs, load_settings, pick_org


@app.command()
def triage(
    text: Annotated[
        str | None, typer.Argument(help="A report's text (default: each line of standard input).")
    ] = None,
    org: OrgOption = None,
) -> None:
    """Suggest the type, category, personnel and division for TEXT, one JSON object per line."""
    from kernel.triage import Triage

    rules = Triage(pick_org(load_orgs(load_settings()), org))
    lines = [text] if text is not None else (line.rstrip("\n") for line in sys.stdin)
    for line in lines:
        if line.strip():
            typer.echo(json.dumps(rules.suggest(line).to_json(), ensure_ascii=False))
