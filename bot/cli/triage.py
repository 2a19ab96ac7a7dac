"""`damrongtham triage`: what a citizen's own words suggest, as the bot would suggest it; and
`damrongtham triage train`: fit the suggestion to the organisation's own cases."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer

from bot.cli.common import OrgOption, app, fail, load_orgs, load_settings, pick_org, with_db


@app.command()
def triage(
    text: Annotated[
        str | None,
        typer.Argument(
            help="A report's text (default: each line of standard input); `train` fits the "
            "suggestion to the organisation's own cases instead."
        ),
    ] = None,
    org: OrgOption = None,
) -> None:
    """Suggest the type, category, personnel and division for TEXT, one JSON object per line."""
    from kernel.triage import LearnedTriage, Suggests, Triage
    from storage.triage_models import load_model, model_path

    settings = load_settings()
    chosen = pick_org(load_orgs(settings), org)
    if text == "train":
        return _train(chosen.code, org)
    rules = Triage(chosen)
    model = load_model(model_path(settings.data_dir, chosen.code))
    suggests: Suggests = rules if model is None else LearnedTriage(rules, model)
    lines = [text] if text is not None else (line.rstrip("\n") for line in sys.stdin)
    for line in lines:
        if line.strip():
            typer.echo(json.dumps(suggests.suggest(line).to_json(), ensure_ascii=False))


def _train(code: str, org: str | None) -> None:
    """Score the rules and a model fitted on the cases staff have handled, on cases held out of the
    fitting; keep the model only when it does better. Prints both scores."""
    from handlers.cases.triage_training import HELD_OUT_EVERY, MIN_CASES, Scores, train
    from handlers.core.work import Services, Work
    from kernel.triage import Triage
    from storage.triage_models import model_path, save_model

    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)

    async def main() -> None:
        db, directory, vault = await with_db(settings, orgs)
        try:
            services = Services(db=db, orgs=orgs, directory=directory, vault=vault)
            async with db.session() as session:
                result = await train(Work(session, services, services.clock()), chosen, Triage(chosen))
        finally:
            await db.dispose()
        handled, held = result.labelled, result.held_out
        typer.echo(f"{code}: {handled} cases handled by staff, {held} held out (every {HELD_OUT_EVERY}th)")
        if result.rules is None or result.model is None:
            raise fail(
                f"Not enough to judge a model: at least {MIN_CASES} cases handled by staff, "
                "of two categories or more."
            )

        def line(name: str, scores: Scores) -> str:
            return f"{name}: type {100 * scores.type:.1f} %, category {100 * scores.category:.1f} %"

        typer.echo(line("rules", result.rules))
        typer.echo(line("model", result.model))
        path = model_path(settings.data_dir, code)
        if result.kept is None:
            typer.echo("The rules stay: the model did not do better on the cases held out.")
            return
        save_model(path, result.kept)
        typer.echo(f"The model did better and is used from the next start: {path}")

    asyncio.run(main())
