"""`/cases` (a division's open cases by deadline) and `/case <reference>` (one case and its history)."""

from __future__ import annotations

import logging

from handlers.cases import staff_cases as cases
from handlers.cases.refusals import Refused
from handlers.core.turn import Turn
from handlers.staff.case_buttons import account, render_refusal
from kernel.deadlines import format_datetime
from kernel.messages import Reply
from storage import chats as chat_repo
from storage import staff as staff_repo
from storage.cases import open_cases

log = logging.getLogger(__name__)


async def list_cases(turn: Turn) -> None:
    inc = turn.incoming
    bindings = await chat_repo.bindings_of_chat(turn.session, inc.channel, inc.chat_id)
    staff = None
    for org_id in {b.org_id for b in bindings} or set(turn.services.directory.org_ids.values()):
        staff = await staff_repo.staff_member(
            turn.session, org_id=org_id, channel=inc.channel, user_id=inc.user_id
        )
        if staff is not None:
            break
    if staff is None:
        log.warning("case list refused")
        return turn.say("staff.not_allowed")
    directory = turn.services.directory
    org = turn.services.org_of(staff.org_id)
    here = {
        directory.division_ids[(org.code, b.target.removeprefix("division:"))]
        for b in bindings
        if b.target.startswith("division:") and b.org_id == staff.org_id
    }
    if here and not staff.oversees and not here & staff.division_ids:
        # another division's group: what is listed here, that division's members read
        return turn.say("staff.cases_here_only")
    # staff see their own divisions' cases (this chat's, if it is one of theirs); coordinators this chat's
    wanted = (here & staff.division_ids or set(staff.division_ids)) if not staff.oversees else here
    found = await open_cases(turn.session, org_id=staff.org_id, division_ids=wanted or None)
    if not found:
        return turn.say("staff.no_open_cases")
    tz = org.tz()
    lines = [turn.text("staff.open_cases", count=len(found))]
    for case in found[:30]:
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


async def show_case(turn: Turn, args: list[str]) -> None:
    if not args:
        return turn.say("staff.case_usage")
    inc = turn.incoming
    group = None
    if inc.chat_type != "private":
        group = [
            (b.org_id, b.target)
            for b in await chat_repo.bindings_of_chat(turn.session, inc.channel, inc.chat_id)
        ]
    try:
        view = await cases.view_case(turn.work, reference=args[0], by=account(turn), group=group)
    except Refused as refused:
        return render_refusal(turn, refused)
    org = turn.services.org_of(view.case.org_id)
    history = [turn.text("staff.history")]
    for e in view.history:
        note = e.public_note or (f"🔒 {e.internal_note}" if e.internal_note else "")
        if e.erased:
            note = turn.text("staff.note_erased")
        when = format_datetime(e.at, lang=turn.lang, tz=org.tz())
        history.append(f"• {when} {turn.text(f'staff.did_{e.kind}')} ({e.actor}) {note}".rstrip())
    turn.replies.append(Reply(text="\n".join(history)))
    turn.replies.extend(view.card[1:])  # attachments and location, re-sent from their stored references
    turn.replies.append(view.card[0])  # the card and its buttons last, where every channel shows them
