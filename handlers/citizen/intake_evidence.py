"""The intake's two questions that take more than text: where it happened (a shared location or
words) and the evidence (photos and documents, up to the organisation's limits)."""

from __future__ import annotations

from handlers.citizen.intake_files import keep_early_file, keep_file
from handlers.citizen.intake_questions import advance, leave_keyboard_step
from handlers.core.turn import Turn, reply_with, take_text
from kernel.messages import Button, Reply, on_earth


def prompt_where(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.where"),
        [Button(turn.text("answer.share_location"), turn.payload("loc"), kind="location")],
        [turn.button("answer.skip", "skip")],
    )


async def handle_where(turn: Turn) -> None:
    draft = turn.draft
    if turn.pressed == "skip":
        draft.where, draft.location = None, None
        return leave_keyboard_step(turn, "where", "intake.skipped")
    take_place(turn, "where")


def prompt_evidence(turn: Turn) -> Reply:
    files = turn.draft.files
    limits = turn.org.intake
    rows = [[turn.button("answer.done" if files else "answer.skip", "done")]]
    if files:
        rows.append([turn.button("answer.remove_files", "clear")])
    return reply_with(
        turn.text("intake.evidence", count=len(files), max=limits.max_files, mb=limits.max_file_mb),
        *rows,
    )


async def handle_evidence(turn: Turn) -> None:
    if turn.pressed == "done":
        return advance(turn, "evidence")
    if turn.pressed == "clear":
        turn.draft.files.clear()
        return turn.reprompt(turn.text("intake.files_removed"))
    if turn.incoming.file is None:
        return turn.fail("errors.file_expected")
    if (note := keep_file(turn)) is not None:
        turn.reprompt(note)


# --- a report in the citizen's own words: place and evidence in one message ----------------


def prompt_place(turn: Turn) -> Reply:
    limits = turn.org.intake
    files = turn.draft.files
    return reply_with(
        turn.text("intake.place", count=len(files), max=limits.max_files, mb=limits.max_file_mb),
        [Button(turn.text("answer.share_location"), turn.payload("loc"), kind="location")],
        [turn.button("answer.done" if files else "answer.skip", "done")],
    )


async def handle_place(turn: Turn) -> None:
    """Photos are kept until the place is given (a location or words) or Done is pressed: evidence
    can still be sent at the summary."""
    if turn.pressed == "done":
        return advance(turn, "place")
    if turn.incoming.file is not None:
        return await keep_early_file(turn)
    take_place(turn, "place")


def take_place(turn: Turn, step: str) -> None:
    """A shared location or the place in words, then the next question, in one message."""
    if turn.incoming.location is not None:
        if not on_earth(*turn.incoming.location):
            return turn.fail("errors.bad_location")
        turn.draft.location = turn.incoming.location
        return leave_keyboard_step(turn, step, "intake.location_received")
    text = take_text(turn, min_chars=1, max_chars=turn.org.intake.detail_max_chars)
    if text is not None:
        turn.draft.where = text
        leave_keyboard_step(turn, step)
