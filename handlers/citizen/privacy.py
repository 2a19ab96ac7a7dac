"""`/mydata`: what is held about the reporter's account, and erasing it from their closed cases
(the use cases are in handlers.cases.privacy)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from handlers.cases.privacy import erase_personal_data
from handlers.core.turn import Turn, reply_with
from kernel.lifecycle import TERMINAL_STATES
from kernel.messages import Button, Reply
from kernel.payloads import ErasePress
from storage import cases as case_repo
from storage.audit import append_event
from storage.models import Case

log = logging.getLogger(__name__)


async def my_data(turn: Turn) -> None:
    """What the bot holds about this account, and a button to erase it from closed cases."""
    inc = turn.incoming
    key = turn.services.vault.lookup_key(inc.channel, inc.user_id)
    cases = await case_repo.cases_of_reporter(turn.session, key, limit=100)
    lines = [turn.text("privacy.mydata_title")]
    closed = 0
    for case in cases:
        identity = turn.services.vault.decrypt(case.reporter_enc)
        held = [turn.text("privacy.held_chat")]
        if identity.get("name"):
            held.append(turn.text("privacy.held_name", value=identity["name"]))
        if identity.get("phone") or identity.get("contact"):
            held.append(
                turn.text("privacy.held_contact", value=identity.get("phone") or identity.get("contact"))
            )
        lines.append(f"• {case.reference} ({turn.text('status.' + case.status)}): " + ", ".join(held))
        closed += case.status in TERMINAL_STATES
    if not cases:
        lines.append(turn.text("privacy.nothing_held"))
    if turn.draft.started:
        lines.append(turn.text("privacy.held_draft"))
    buttons = [[Button(turn.text("privacy.erase_button"), ErasePress().data)]] if closed else []
    turn.replies.append(reply_with("\n".join(lines), *buttons))
    await append_event_for_request(turn, cases, "data_request")


async def append_event_for_request(turn: Turn, cases: Sequence[Case], kind: str) -> None:
    for case in cases:
        await append_event(
            turn.session,
            turn.services.vault,
            case_id=case.id or 0,
            org_id=case.org_id,
            kind=kind,
            actor="reporter",
            status=case.status,
            at=turn.now,
        )


async def erase_mine(turn: Turn) -> None:
    inc = turn.incoming
    key = turn.services.vault.lookup_key(inc.channel, inc.user_id)
    cases = [
        c
        for c in await case_repo.cases_of_reporter(turn.session, key, limit=100)
        if c.status in TERMINAL_STATES
    ]
    for case in cases:
        await erase_personal_data(turn.work, case, reason="reporter_request")
    log.info("personal data erased on request: %d case(s)", len(cases))
    turn.replies.append(Reply(text=turn.text("privacy.erased", count=len(cases))))
