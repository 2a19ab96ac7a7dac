"""The reporter's side of an open case: answer questions, add information, withdraw, rate.

Buttons carry `c.<what>.<case id>`; ownership is checked against the database every time.
"""

from __future__ import annotations

import logging

from handlers.cases.actions import rate, reporter_message, withdraw
from handlers.core.turn import Step, Turn, reply_with, take_text
from kernel import lifecycle
from kernel.messages import Button, Media, Reply
from storage import repositories as repo
from storage.models import Attachment, Case

log = logging.getLogger(__name__)


async def _own_case(turn: Turn, case_id: str) -> Case | None:
    inc = turn.incoming
    case = await repo.case_to_change(turn.session, int(case_id)) if case_id.isdigit() else None
    if case is None or case.reporter_key != turn.services.vault.lookup_key(inc.channel, inc.user_id):
        log.warning("reporter action on a case that is not theirs refused")
        turn.say("reporter.not_yours")
        return None
    return case


def _org(turn: Turn, case: Case):  # type: ignore[no-untyped-def]
    return turn.services.orgs[turn.services.directory.org_code(case.org_id)]


def _enter(turn: Turn, step: str) -> None:
    """Leave the current step for a case step; a report in progress is offered again afterwards."""
    if turn.convo.step not in ("case_input", "rating_comment"):
        turn.state["return_step"] = turn.convo.step
    turn.go(step)


def _leave(turn: Turn) -> None:
    back = turn.state.pop("return_step", "menu")
    turn.state.pop("case_input", None)
    turn.state.pop("rating_case", None)
    if turn.draft.started:
        turn.state["resume_step"] = back
        return turn.go("resume")
    turn.go("menu")


async def press(turn: Turn) -> None:
    parts = (turn.incoming.payload or "").split(".")
    what, case_id = [*parts, "", ""][1:3]
    case = await _own_case(turn, case_id)
    if case is None:
        return
    if what == "rate" and len(parts) == 4 and parts[3] in "12345" and len(parts[3]) == 1:
        return await _rate(turn, case, int(parts[3]))
    if not lifecycle.is_open(case.status):
        return turn.say("reporter.case_closed")
    if what == "add":
        turn.state["case_input"], turn.state["case_input_ref"] = case.id, case.reference
        return _enter(turn, "case_input")
    if what == "wd":
        return turn.replies.append(
            reply_with(
                turn.text("reporter.withdraw_confirm", reference=case.reference),
                [Button(turn.text("reporter.withdraw_yes"), f"c.wdy.{case.id}")],
                [Button(turn.text("reporter.withdraw_no"), f"c.wdn.{case.id}")],
            )
        )
    if what == "wdy":
        await withdraw(turn.session, turn.services, org=_org(turn, case), case=case, now=turn.now)
        return turn.say("reporter.withdrawn", reference=case.reference)
    if what == "wdn":
        return turn.say("staff.cancelled")
    turn.say("errors.stale_button")


async def _rate(turn: Turn, case: Case, score: int) -> None:
    if case.status not in lifecycle.TERMINAL_STATES or case.status == "withdrawn":
        return turn.say("errors.stale_button")
    if case.rating is not None:
        return turn.say("reporter.already_rated")
    await rate(turn.session, case=case, score=score, comment=None, now=turn.now)
    turn.state["rating_case"] = case.id
    _enter(turn, "rating_comment")


def prompt_case_input(turn: Turn) -> Reply:
    case_id = turn.state.get("case_input")
    reference = turn.state.get("case_input_ref") or ""
    if not reference and case_id:
        reference = f"#{case_id}"
    return reply_with(
        turn.text("reporter.input_prompt", reference=reference), [turn.button("answer.done", "done")]
    )


async def handle_case_input(turn: Turn) -> None:
    if turn.pressed == "done":
        return _leave(turn)
    case = await repo.case_to_change(turn.session, turn.state.get("case_input") or 0)
    if case is None or not lifecycle.is_open(case.status):
        turn.say("reporter.case_closed")
        return _leave(turn)
    turn.state["case_input_ref"] = case.reference
    inc, org = turn.incoming, _org(turn, case)
    media = None
    if inc.file is not None:
        if inc.file.size is not None and inc.file.size > org.intake.max_file_mb * 1024 * 1024:
            return turn.fail("errors.file_too_large", mb=org.intake.max_file_mb)
        turn.session.add(
            Attachment(case_id=case.id or 0, org_id=case.org_id, kind=inc.file.kind, channel=inc.channel,
                       file_id=inc.file.file_id, file_unique_id=inc.file.file_unique_id,
                       mime_type=inc.file.mime_type, size=inc.file.size)
        )  # fmt: skip
        media = Media(kind=inc.file.kind, file_id=inc.file.file_id)
        text = None
    else:
        text = take_text(turn, min_chars=1, max_chars=org.intake.description_max_chars)
        if text is None:
            return
    await reporter_message(
        turn.session, turn.services, org=org, case=case, text=text, media=media, now=turn.now
    )
    turn.reprompt(turn.text("reporter.input_received"))


def prompt_rating_comment(turn: Turn) -> Reply:
    return reply_with(turn.text("reporter.rate_thanks"), [turn.button("answer.skip", "skip")])


async def handle_rating_comment(turn: Turn) -> None:
    if turn.pressed == "skip":
        return _leave(turn)

    text = take_text(turn, min_chars=1, max_chars=1000)
    if text is None:
        return
    case = await repo.case_to_change(turn.session, turn.state.get("rating_case") or 0)
    if case is not None and case.rating is not None:
        await rate(turn.session, case=case, score=case.rating, comment=text, now=turn.now)
    turn.say("reporter.rate_comment_thanks")
    _leave(turn)


STEPS: dict[str, Step] = {
    "case_input": Step(prompt_case_input, handle_case_input, drafting=False),
    "rating_comment": Step(prompt_rating_comment, handle_rating_comment, drafting=False),
}
