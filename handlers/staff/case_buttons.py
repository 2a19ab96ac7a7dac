"""Staff in their division chats: case-card buttons, notes, /cases, /case, /join and /bind.

Every press is authorised again here from the database; callback data only names a case and an
action, never a permission.
"""

from __future__ import annotations

import logging

from sqlmodel import col, select

from handlers.cases.actions import apply_action, current_card, division_codes, staff_actor, transfer_targets
from handlers.core.turn import Turn, reply_with
from kernel import lifecycle
from kernel.bindings import binding_conflict
from kernel.deadlines import format_datetime
from kernel.messages import Button, Reply
from storage import repositories as repo
from storage import staff as staff_repo
from storage.audit import append_event
from storage.case_queries import open_cases
from storage.models import Case, CaseEvent, Staff

log = logging.getLogger(__name__)
STAFF_COMMANDS = {"cases", "case", "join", "bind"}
NOTE_MAX = 2000


def _org_for_case(turn: Turn, case: Case):  # type: ignore[no-untyped-def]
    return turn.services.orgs[turn.services.directory.org_code(case.org_id)]


async def _authorised(turn: Turn, case: Case, action: str) -> Staff | None:
    inc = turn.incoming
    staff = await staff_repo.active_staff(
        turn.session, org_id=case.org_id, channel=inc.channel, user_id=inc.user_id
    )
    if await staff_repo.may_act(turn.session, staff, case.id or 0):
        return staff
    log.warning("staff action refused", extra={"action": action, "reference": case.reference})
    turn.say("staff.not_allowed")
    return None


async def _case(turn: Turn, case_id: str) -> Case | None:
    case = await repo.case_to_change(turn.session, int(case_id)) if case_id.isdigit() else None
    if case is None:
        turn.say("staff.case_not_found")
    return case


async def press(turn: Turn) -> None:
    """`s.<action>.<case id>[.<division>]` from a case card, or `s.cancel.0`."""
    parts = (turn.incoming.payload or "").split(".")
    action, case_id = [*parts, "", ""][1:3]
    if action == "cancel":
        turn.state.pop("pending", None)
        return turn.say("staff.cancelled")
    case = await _case(turn, case_id)
    if case is None:
        return
    if action == "xfer":
        action, transfer_to = "transfer", parts[3] if len(parts) > 3 else ""
    else:
        transfer_to = None
    if action not in lifecycle.STAFF_ACTIONS:
        return turn.say("staff.case_not_found")
    staff = await _authorised(turn, case, action)
    if staff is None:
        return
    org = _org_for_case(turn, case)
    try:
        act = lifecycle.allowed(action, case.status)
    except lifecycle.TransitionRefused as refused:
        return _refused(turn, refused)
    if action == "transfer" and transfer_to is None:
        return await _choose_division(turn, org, case)
    if not act.needs_note:
        await _apply(turn, case, staff, action, None, None)
        return
    turn.state["pending"] = {"action": action, "case_id": case.id, "to": transfer_to}
    kind = "staff.note_public" if act.public else "staff.note_internal"
    turn.replies.append(
        Reply(
            text=turn.text("staff.ask_note", reference=case.reference, kind=turn.text(kind)),
            buttons=[[Button(turn.text("staff.cancel"), "s.cancel.0")]],
        )
    )
    # Group chats only pass replies to a bot in privacy mode: ask for one.
    turn.replies.append(Reply(text=turn.text("staff.reply_here"), force_reply=True))


async def _choose_division(turn: Turn, org, case: Case) -> None:  # type: ignore[no-untyped-def]
    codes = await transfer_targets(turn.session, org, case)
    rows = [[Button(org.division(c).name(turn.lang), f"s.xfer.{case.id}.{c}")] for c in codes]
    rows.append([Button(turn.text("staff.cancel"), "s.cancel.0")])
    turn.replies.append(reply_with(turn.text("staff.choose_division", reference=case.reference), *rows))


def _refused(turn: Turn, refused: lifecycle.TransitionRefused) -> None:
    values = dict(refused.values)
    if "state" in values:
        values["state"] = turn.text("status." + values["state"])
    if "action" in values:
        values["action"] = turn.text(f"staff.action_{values['action']}")
    turn.say(refused.reason, **values)


async def _apply(turn: Turn, case: Case, staff: Staff, action: str, note: str | None, to: str | None) -> None:
    org = _org_for_case(turn, case)
    try:
        await apply_action(
            turn.session, turn.services, org=org, case=case, actor=staff_actor(staff), action=action,
            note=note, transfer_to=to, now=turn.now,
        )  # fmt: skip
    except lifecycle.TransitionRefused as refused:
        return _refused(turn, refused)
    turn.say("staff.done", action=turn.text(f"staff.did_{action}"), reference=case.reference)


async def pending_note(turn: Turn) -> None:
    """The text a staff member sends after pressing an action that needs a note."""
    pending = turn.state["pending"]
    text = (turn.incoming.text or "").strip()
    if not text or turn.incoming.command:
        return turn.say("staff.note_expected")
    if len(text) > NOTE_MAX:
        return turn.say("errors.too_long", max=NOTE_MAX, length=len(text))
    case = await repo.case_to_change(turn.session, pending["case_id"])
    turn.state.pop("pending")
    if case is None:
        return turn.say("staff.case_not_found")
    staff = await _authorised(turn, case, pending["action"])
    if staff is not None:
        await _apply(turn, case, staff, pending["action"], text, pending.get("to"))


async def command(turn: Turn, name: str, args: list[str]) -> None:
    if name == "join":
        return await _join(turn, args)
    if name == "bind":
        return await _bind(turn, args)
    if name == "case":
        return await _show_case(turn, args)
    await _list_cases(turn)


async def _join(turn: Turn, args: list[str]) -> None:
    inc = turn.incoming
    if inc.chat_type != "private":
        return turn.say("errors.private_only")
    grant = (
        await staff_repo.redeem_code(turn.session, args[0], purpose="join", now=turn.now) if args else None
    )
    if grant is None:
        return turn.say("staff.code_invalid")
    org_code = turn.services.directory.org_code(grant.org_id)
    division = grant.target.removeprefix("division:") if grant.target.startswith("division:") else None
    await staff_repo.add_staff(
        turn.session, org_id=grant.org_id, channel=inc.channel, user_id=inc.user_id, role=grant.role,
        division_id=turn.services.directory.division_ids[(org_code, division)] if division else None,
        display_name=inc.user_name,
    )  # fmt: skip
    org = turn.services.orgs[org_code]
    where = org.division(division).name(turn.lang) if division else turn.text(f"staff.role_{grant.role}")
    turn.say("staff.joined", where=where, org=org.name(turn.lang))


async def _bind(turn: Turn, args: list[str]) -> None:
    inc = turn.incoming
    if inc.chat_type == "private":
        return turn.say("staff.bind_in_group")
    grant = (
        await staff_repo.redeem_code(turn.session, args[0], purpose="bind", now=turn.now) if args else None
    )
    if grant is None:
        return turn.say("staff.code_invalid")
    org_code = turn.services.directory.org_code(grant.org_id)
    org = turn.services.orgs[org_code]
    others = {b.target for b in await repo.bindings_of_chat(turn.session, inc.channel, inc.chat_id)}
    if binding_conflict(org, grant.target, others):
        return turn.say("staff.bind_conflict")
    code = grant.target.removeprefix("division:")
    released = await repo.bind_chat(
        turn.session, org_id=grant.org_id, target=grant.target,
        division_id=turn.services.directory.division_ids.get((org_code, code)), channel=inc.channel,
        chat_id=inc.chat_id, vault=turn.services.vault,
    )  # fmt: skip
    name = (
        org.division(code).name(turn.lang)
        if grant.target != "coordinators"
        else turn.text("card.coordinators")
    )
    turn.say("staff.bound", target=name, released=released)


async def _chat_staff(turn: Turn) -> tuple[list[str], Staff | None, int | None]:
    """The divisions this chat is bound to, and the member asking, if they are active staff there."""
    inc = turn.incoming
    bindings = await repo.bindings_of_chat(turn.session, inc.channel, inc.chat_id)
    org_ids = {b.org_id for b in bindings}
    for org_id in org_ids or set(turn.services.directory.org_ids.values()):
        staff = await staff_repo.active_staff(
            turn.session, org_id=org_id, channel=inc.channel, user_id=inc.user_id
        )
        if staff is not None:
            codes = [b.target.removeprefix("division:") for b in bindings if b.target.startswith("division:")]
            return codes, staff, org_id
    return [], None, None


async def _list_cases(turn: Turn) -> None:
    codes, staff, org_id = await _chat_staff(turn)
    if staff is None or org_id is None:
        log.warning("case list refused")
        return turn.say("staff.not_allowed")
    directory = turn.services.directory
    org = turn.services.orgs[directory.org_code(org_id)]
    mine = await staff_repo.staff_division_ids(turn.session, staff.id or 0)
    if staff.role == "staff":
        wanted = {directory.division_ids[(org.code, c)] for c in codes} & mine or mine
    else:
        wanted = {directory.division_ids[(org.code, c)] for c in codes}
    cases = await open_cases(turn.session, org_id=org_id, division_ids=wanted or None)
    if not cases:
        return turn.say("staff.no_open_cases")
    tz = org.tz()
    lines = [turn.text("staff.open_cases", count=len(cases))]
    for case in cases[:30]:
        due = case.ack_due_at if case.status == "received" else case.reply_due_at
        overdue = " ⚠️" if due < turn.now else ""
        lines.append(
            turn.text(
                "staff.case_line",
                reference=case.reference,
                status=turn.text("status." + case.status),
                due=format_datetime(due, lang=turn.lang, tz=tz),
            )
            + overdue
        )
    turn.replies.append(Reply(text="\n".join(lines)))


async def _may_show_here(turn: Turn, case: Case) -> bool:
    """A case is shown in a private chat, or in a chat of one of its divisions or the coordinators."""
    inc = turn.incoming
    if inc.chat_type == "private":
        return True
    targets = {f"division:{c}" for c in await division_codes(turn.session, case)} | {"coordinators"}
    bound = {
        b.target
        for b in await repo.bindings_of_chat(turn.session, inc.channel, inc.chat_id)
        if b.org_id == case.org_id
    }
    return bool(bound & targets)


async def _show_case(turn: Turn, args: list[str]) -> None:
    if not args:
        return turn.say("staff.case_usage")
    case = await repo.case_by_reference(turn.session, args[0])
    if case is None:
        return turn.say("staff.case_not_found")
    staff = await _authorised(turn, case, "view")
    if staff is None:
        return
    if not await _may_show_here(turn, case):
        return turn.say("staff.case_here_only")
    org = _org_for_case(turn, case)
    card = await current_card(turn.session, turn.services, org, case)
    events = (
        await turn.session.execute(
            select(CaseEvent).where(col(CaseEvent.case_id) == case.id).order_by(col(CaseEvent.seq))
        )
    ).scalars()
    history = [turn.text("staff.history")]
    for e in events:
        note = e.public_note or (f"🔒 {e.internal_note}" if e.internal_note else "")
        when = format_datetime(e.at, lang=turn.lang, tz=org.tz())
        history.append(f"• {when} {turn.text(f'staff.did_{e.kind}')} ({e.actor}) {note}".rstrip())
    turn.replies.append(Reply(text="\n".join(history)))
    turn.replies.extend(card[1:])  # attachments and location, re-sent from their stored references
    turn.replies.append(card[0])  # the card and its buttons last, where every channel shows them
    if case.anonymous and staff.role in ("coordinator", "admin"):
        await append_event(
            turn.session, case_id=case.id or 0, org_id=case.org_id, kind="viewed",
            actor=staff_actor(staff).label, status=case.status, at=turn.now,
        )  # fmt: skip
