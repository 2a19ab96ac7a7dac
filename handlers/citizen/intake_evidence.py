"""The intake's two questions that take more than text: where it happened (a shared location or
words) and the evidence (photos and documents, up to the organisation's limits)."""

from __future__ import annotations

import logging

from handlers.citizen.intake_questions import advance, leave_keyboard_step
from handlers.core.turn import Turn, reply_with, take_text
from kernel.messages import Button, Reply, acceptable_evidence

log = logging.getLogger(__name__)


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
    if turn.incoming.location is not None:
        lat, lon = turn.incoming.location
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return turn.fail("errors.bad_location")
        draft.location = (lat, lon)
        return leave_keyboard_step(turn, "where", "intake.location_received")
    text = take_text(turn, min_chars=1, max_chars=turn.org.intake.detail_max_chars)
    if text is not None:
        draft.where = text
        leave_keyboard_step(turn, "where")


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
    files = turn.draft.files
    limits = turn.org.intake
    if turn.pressed == "done":
        return advance(turn, "evidence")
    if turn.pressed == "clear":
        files.clear()
        return turn.reprompt(turn.text("intake.files_removed"))
    file = turn.incoming.file
    if file is None:
        return turn.fail("errors.file_expected")
    if not acceptable_evidence(file):
        log.warning("evidence refused: a file type not taken", extra={"kind": file.kind})
        return turn.fail("errors.file_type")
    if len(files) >= limits.max_files:
        return turn.fail("errors.too_many_files", max=limits.max_files)
    if file.size is not None and file.size > limits.max_file_mb * 1024 * 1024:
        return turn.fail("errors.file_too_large", mb=limits.max_file_mb)
    files.append(file)
    turn.reprompt(turn.text("intake.file_received", count=len(files), max=limits.max_files))
