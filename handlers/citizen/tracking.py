"""Tracking: a reporter's own cases, or any case by reference and tracking code."""

from __future__ import annotations

import asyncio
import logging
import re

from handlers.cases.cards import category_label
from handlers.core.turn import Step, Turn, reply_with
from kernel.deadlines import format_datetime
from kernel.lifecycle import is_open
from kernel.messages import Button, Reply
from kernel.payloads import ReporterPress
from storage import access as access_repo
from storage import cases as case_repo
from storage.crypto import verify_tracking_code
from storage.models import Case

log = logging.getLogger(__name__)
REFERENCE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,9}-\d{4}-\d{6}$")


def _case_line(turn: Turn, case: Case) -> str:
    org = turn.services.orgs[turn.services.directory.org_code(case.org_id)]
    when = format_datetime(case.created_at, lang=turn.lang, tz=org.tz())
    return turn.text(
        "status.line",
        reference=case.reference,
        type=turn.text("type." + case.report_type),
        category=category_label(org, case.report_type, case.category, turn.lang),
        status=turn.text("status." + case.status),
        date=when,
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
    """Answer a reference + code look-up; the same words for an unknown case and a wrong code."""
    inc = turn.incoming
    attempt_key = turn.services.vault.lookup_key("track", inc.channel, inc.user_id)
    locked = await access_repo.locked_until(turn.session, attempt_key, turn.now)
    if locked is not None:
        turn.say("status.locked", until=turn.local_time(locked))
        return False
    reference = reference.upper()
    case = (
        await case_repo.case_by_reference(turn.session, reference) if REFERENCE_RE.match(reference) else None
    )
    stored = case.tracking_hash if case else None
    if not await asyncio.to_thread(verify_tracking_code, code, stored) or case is None:
        await access_repo.record_failed_attempt(turn.session, attempt_key, turn.now)
        log.info("tracking look-up refused")
        turn.say("status.not_found")
        return False
    await access_repo.clear_attempts(turn.session, attempt_key)
    turn.replies.append(Reply(text=_case_line(turn, case)))
    return True


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
    case_id = case.id or 0
    return [
        Button(
            turn.text("reporter.add_button", reference=case.reference), ReporterPress("add", case_id).data
        ),
        Button(
            turn.text("reporter.withdraw_button", reference=case.reference), ReporterPress("wd", case_id).data
        ),
    ]
