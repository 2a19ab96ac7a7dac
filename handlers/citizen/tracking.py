"""Tracking: a reporter's own cases, or any case by reference and tracking code."""

from __future__ import annotations

import logging

from handlers.cases import tracked
from handlers.cases.cards import category_label
from handlers.cases.refusals import Refused
from handlers.core.turn import Step, Turn, reply_with
from kernel.deadlines import format_datetime
from kernel.lifecycle import is_open
from kernel.messages import Button, Reply
from kernel.payloads import ReporterPress
from storage import cases as case_repo
from storage.models import Case

log = logging.getLogger(__name__)


def _case_line(turn: Turn, case: Case | tracked.PublicCase) -> str:
    """A case in one line: the stored case (one's own), or what its code shows (any chat)."""
    org = turn.services.org_of(case.org_id)
    return turn.text(
        "status.line",
        reference=case.reference,
        type=turn.text("type." + case.report_type),
        category=category_label(org, case.report_type, case.category, turn.lang),
        status=turn.text("status." + case.status),
        date=format_datetime(case.created_at, lang=turn.lang, tz=org.tz()),
    )


async def show_my_cases(turn: Turn) -> None:
    inc = turn.incoming
    key = turn.services.vault.lookup_key(inc.channel, inc.user_id)
    cases = await case_repo.cases_of_reporter(turn.session, key)
    if not cases:
        turn.say("status.none")
        return

    lines = [turn.text("status.mine")] + [_case_line(turn, c) for c in cases]
    # what a reporter can do with an open case: add information, withdraw (the newest few)
    rows = [case_buttons(turn, c) for c in cases if is_open(c.status)][:5]
    turn.replies.append(Reply(text="\n".join(lines), buttons=[[b] for row in rows for b in row]))


async def check_reference(turn: Turn, reference: str, code: str) -> bool:
    """A case by reference and code, from any chat: its whole public history, and the reporter's
    buttons, which act by a pass (handlers.cases.tracked) kept in this conversation for 30 minutes.
    The same words for an unknown case and a wrong code."""
    inc = turn.incoming
    asking = turn.services.vault.lookup_key("track", inc.channel, inc.user_id)
    found = await tracked.look_up(turn.work, reference=reference, code=code, counted_as=asking)
    if found.locked_until is not None:
        turn.say("status.locked", until=turn.local_time(found.locked_until))
        return False
    if found.proof is None:
        turn.say("status.not_found")
        return False
    case = await tracked.public_case(turn.work, found.proof)
    passes = {k: v for k, v in turn.state.get("passes", {}).items() if _still_valid(turn, v)}
    passes[str(case.case_id)] = found.proof.token
    turn.state["passes"] = passes
    org = turn.services.org_of(case.org_id)
    lines = [_case_line(turn, case), ""]
    for e in case.entries:
        when = format_datetime(e.at, lang=turn.lang, tz=org.tz())
        lines.append(f"• {when} {turn.text('track.did_' + e.kind)}" + (f"\n  {e.note}" if e.note else ""))
    rows: list[list[Button]] = []
    if case.is_open:
        rows = [[b] for b in _buttons(turn, case.case_id, case.reference)]
    elif case.may_rate:
        rows = [[Button(turn.text("reporter.rate_button", n=n), ReporterPress("rate", case.case_id, n).data)]
                for n in range(5, 0, -1)]  # fmt: skip
    turn.replies.append(Reply(text="\n".join(lines), buttons=rows))
    return True


def _still_valid(turn: Turn, token: str) -> bool:
    try:
        tracked.case_of(turn.work, tracked.TrackPass(token))
    except Refused:
        return False
    return True


def pass_for(turn: Turn, case_id: int) -> tracked.TrackPass | None:
    """The pass this conversation holds for a case looked up by its code, if any."""
    token = turn.state.get("passes", {}).get(str(case_id))
    return tracked.TrackPass(token, channel=turn.incoming.channel) if token else None


def prompt_track(turn: Turn) -> Reply:
    return reply_with(turn.text("status.ask"), [turn.button("answer.back_to_menu", "menu")])


async def handle_track(turn: Turn) -> None:
    if turn.pressed == "menu":
        return turn.go("menu")
    text = (turn.incoming.text or "").strip()
    parts = text.split(maxsplit=1)
    if turn.incoming.text is None or len(parts) != 2:
        return turn.fail("status.format")
    if await check_reference(turn, parts[0], parts[1]):
        return turn.go("menu")
    turn.reprompt()


TRACK_STEP = Step(prompt_track, handle_track, drafting=False)


def case_buttons(turn: Turn, case: Case) -> list[Button]:
    return _buttons(turn, case.id or 0, case.reference)


def _buttons(turn: Turn, case_id: int, reference: str) -> list[Button]:
    return [
        Button(turn.text("reporter.add_button", reference=reference), ReporterPress("add", case_id).data),
        Button(turn.text("reporter.withdraw_button", reference=reference), ReporterPress("wd", case_id).data),
    ]
