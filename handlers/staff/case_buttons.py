"""Case-card buttons and the notes they ask for: parse the press, call the use case, render.

Callback data only names a case and an action, never a permission: the use cases authorise every
press again from the database.
"""

from __future__ import annotations

from handlers.cases import staff_cases as cases
from handlers.cases.actions import CaseChanged
from handlers.cases.cards import category_label
from handlers.cases.refusals import Refused
from handlers.core.turn import Turn, clean_text, reply_with
from handlers.core.work import StaffAccount, Work
from kernel import lifecycle, payloads
from kernel.messages import Button, Reply

CANCEL = payloads.StaffCancel().data


def account(turn: Turn) -> StaffAccount:
    return StaffAccount(turn.incoming.channel, turn.incoming.user_id)


async def press(turn: Turn) -> None:
    """A button on a case card (`StaffPress`), or the cancel button of a note prompt."""
    pressed = payloads.parse(turn.incoming.payload or "")
    if isinstance(pressed, payloads.StaffCancel):
        turn.state.pop("pending", None)
        return turn.say("staff.cancelled")
    if not isinstance(pressed, payloads.StaffPress) or pressed.action not in lifecycle.STAFF_ACTIONS:
        return turn.say("staff.case_not_found")
    action = lifecycle.ACTIONS[pressed.action]
    chosen = action.name != "recategorise" or pressed.choice is not None
    if not action.needs_note and chosen:  # accept, investigate, a category chosen: done at once
        return await _perform(turn, pressed.action, pressed.case_id, to=pressed.choice)
    try:
        check = await cases.check_action(
            turn.work, case_id=pressed.case_id, by=account(turn), action=action.name
        )
    except Refused as refused:
        return render_refusal(turn, refused)
    if action.name == "recategorise":
        return _choose_category(turn, check)
    if action.name == "transfer" and pressed.choice is None:
        return _choose_division(turn, check)
    turn.state["pending"] = {"action": action.name, "case_id": check.case_id, "to": pressed.choice}
    kind = "staff.note_public" if check.public else "staff.note_internal"
    turn.replies.append(
        Reply(
            text=turn.text("staff.ask_note", reference=check.reference, kind=turn.text(kind)),
            buttons=[[Button(turn.text("staff.cancel"), CANCEL)]],
        )
    )
    # Group chats only pass replies to a bot in privacy mode: ask for one.
    turn.replies.append(Reply(text=turn.text("staff.reply_here"), force_reply=True))


def _choose_division(turn: Turn, check: cases.ActionCheck) -> None:
    org = turn.services.orgs[check.org_code]
    rows = [
        [Button(org.division(c).name(turn.lang), payloads.StaffPress("transfer", check.case_id, c).data)]
        for c in check.transfer_targets
    ]
    rows.append([Button(turn.text("staff.cancel"), CANCEL)])
    turn.replies.append(reply_with(turn.text("staff.choose_division", reference=check.reference), *rows))


def _choose_category(turn: Turn, check: cases.ActionCheck) -> None:
    org = turn.services.orgs[check.org_code]
    rows = [
        [
            Button(
                category_label(org, check.report_type, code, turn.lang),
                payloads.StaffPress("recategorise", check.case_id, code).data,
            )
        ]
        for code in check.categories
    ]
    rows.append([Button(turn.text("staff.cancel"), CANCEL)])
    turn.replies.append(reply_with(turn.text("staff.choose_category", reference=check.reference), *rows))


async def pending_note(turn: Turn) -> None:
    """The text a staff member sends after pressing an action that needs a note."""
    pending = turn.state["pending"]
    text = clean_text(turn.incoming.text or "")
    if not text or turn.incoming.command:
        return turn.say("staff.note_expected")
    if len(text) > cases.NOTE_MAX:
        return turn.say("errors.too_long", max=cases.NOTE_MAX, length=len(text))
    turn.state.pop("pending")
    await _perform(turn, pending["action"], pending["case_id"], text, pending.get("to"))


async def _perform(turn: Turn, action: str, case_id: int, note: str = "", to: str | None = None) -> None:
    try:
        changed = await staff_action(turn.work, account(turn), action, case_id, note, to)
    except Refused as refused:
        return render_refusal(turn, refused)
    turn.say("staff.done", action=turn.text(f"staff.did_{changed.action}"), reference=changed.reference)


async def staff_action(
    work: Work, by: StaffAccount, action: str, case_id: int, note: str = "", to: str | None = None
) -> CaseChanged:
    """A card button (or the desk's form for it) as the use case it stands for."""
    match action:
        case "accept":
            return await cases.accept_case(work, case_id=case_id, by=by)
        case "investigate":
            return await cases.start_investigation(work, case_id=case_id, by=by)
        case "ask":
            return await cases.ask_reporter(work, case_id=case_id, by=by, question=note)
        case "update":
            return await cases.send_update(work, case_id=case_id, by=by, message=note)
        case "transfer":
            return await cases.transfer_case(work, case_id=case_id, by=by, to=to or "", reason=note)
        case "recategorise":
            return await cases.recategorise_case(work, case_id=case_id, by=by, category=to or "")
        case "resolve" | "forward" | "close":
            outcome = CLOSING_OUTCOMES[action]
            return await cases.close_case(work, case_id=case_id, by=by, outcome=outcome, public_note=note)
        case _:
            return await cases.add_internal_note(work, case_id=case_id, by=by, note=note)


CLOSING_OUTCOMES: dict[str, cases.Outcome] = {
    "resolve": "resolved", "forward": "forwarded", "close": "closed_no_action",
}  # fmt: skip


def render_refusal(turn: Turn, refused: Refused) -> None:
    values = dict(refused.values)
    if "state" in values:
        values["state"] = turn.text("status." + values["state"])
    if "action" in values:
        values["action"] = turn.text(f"staff.action_{values['action']}")
    turn.say(refused.key, **values)
