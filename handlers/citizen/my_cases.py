"""The reporter's side of an open case: answer questions, add information, withdraw, rate.

Buttons carry a `ReporterPress`; the use cases check ownership against the database every time.
"""

from __future__ import annotations

import logging

from handlers.cases import reporter_cases as cases
from handlers.cases.refusals import BadInput, Refused, WrongState
from handlers.citizen.tracking import pass_for
from handlers.core.turn import Step, Turn, clean_text, reply_with, take_text
from handlers.core.work import ReporterAccount
from kernel import payloads
from kernel.messages import Button, Reply

log = logging.getLogger(__name__)


def _account(turn: Turn, case_id: int) -> cases.Reporter:
    """Who acts on the case: this account, or the pass this chat holds from the case's code."""
    return pass_for(turn, case_id) or ReporterAccount(turn.incoming.channel, turn.incoming.user_id)


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
    """A button on the reporter's own case (`ReporterPress`)."""
    pressed = payloads.parse(turn.incoming.payload or "")
    if not isinstance(pressed, payloads.ReporterPress):
        return turn.say("errors.stale_button")
    work, case_id = turn.work, pressed.case_id
    by = _account(turn, case_id)
    try:
        if pressed.choice == "rate":
            assert pressed.score is not None  # the parser gives "rate" a score
            await cases.rate(work, case_id=case_id, by=by, score=pressed.score)
            turn.state["rating_case"] = case_id
            return _enter(turn, "rating_comment")
        if pressed.choice == "wdy":
            changed = await cases.withdraw(work, case_id=case_id, by=by)
            return turn.say("reporter.withdrawn", reference=changed.reference)
        case = await cases.own_case(work, case_id=case_id, by=by)
    except Refused as refused:
        return turn.say(refused.key, **_values(turn, refused))
    if pressed.choice == "add":
        turn.state["case_input"], turn.state["case_input_ref"] = case.case_id, case.reference
        return _enter(turn, "case_input")
    if pressed.choice == "wd":
        return turn.replies.append(
            reply_with(
                turn.text("reporter.withdraw_confirm", reference=case.reference),
                [
                    Button(
                        turn.text("reporter.withdraw_yes"), payloads.ReporterPress("wdy", case.case_id).data
                    )
                ],
                [Button(turn.text("reporter.withdraw_no"), payloads.ReporterPress("wdn", case.case_id).data)],
            )
        )
    turn.say("staff.cancelled")  # "wdn": not withdrawn


def _values(turn: Turn, refused: Refused) -> dict[str, str]:
    values = dict(refused.values)
    if "state" in values:
        values["state"] = turn.text("status." + values["state"])
    if "action" in values:
        values["action"] = turn.text(f"staff.action_{values['action']}")
    return values


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
    inc = turn.incoming
    text = None
    if inc.file is None:
        if inc.text is None:
            return turn.fail("errors.text_expected")
        text = clean_text(inc.text)  # its length is checked against the case's organisation
    case_id = turn.state.get("case_input") or 0
    try:
        changed = await cases.add_information(
            turn.work, case_id=case_id, by=_account(turn, case_id), text=text, file=inc.file
        )
    except BadInput as refused:
        return turn.fail(refused.key, **refused.values)
    except (WrongState, Refused):
        turn.say("reporter.case_closed")
        return _leave(turn)
    turn.state["case_input_ref"] = changed.reference
    turn.reprompt(turn.text("reporter.input_received"))


def prompt_rating_comment(turn: Turn) -> Reply:
    return reply_with(turn.text("reporter.rate_thanks"), [turn.button("answer.skip", "skip")])


async def handle_rating_comment(turn: Turn) -> None:
    if turn.pressed == "skip":
        return _leave(turn)
    text = take_text(turn, min_chars=1, max_chars=cases.COMMENT_MAX)
    if text is None:
        return
    case_id = turn.state.get("rating_case") or 0
    try:
        await cases.comment_rating(turn.work, case_id=case_id, by=_account(turn, case_id), comment=text)
    except Refused:
        log.info("rating comment without a rating dropped")
    turn.say("reporter.rate_comment_thanks")
    _leave(turn)


STEPS: dict[str, Step] = {
    "case_input": Step(prompt_case_input, handle_case_input, drafting=False),
    "rating_comment": Step(prompt_rating_comment, handle_rating_comment, drafting=False),
}
