"""Files sent with a report are kept at whatever step they come: the evidence question is only
where they are asked for."""

from __future__ import annotations

import logging

from handlers.core.turn import Turn
from kernel.messages import acceptable_evidence

log = logging.getLogger(__name__)


def keep_file(turn: Turn) -> str | None:
    """Keep the file sent with the report, at whatever step it came: what to tell the citizen, or
    None after telling them why it was not kept (the files kept before stay)."""
    file, files, limits = turn.incoming.file, turn.draft.files, turn.org.intake
    assert file is not None, "a file was sent"
    if not acceptable_evidence(file):
        log.warning("evidence refused: a file type not taken", extra={"kind": file.kind})
        turn.fail("errors.file_type")
        return None
    if len(files) >= limits.max_files:
        turn.fail("errors.too_many_files", max=limits.max_files)
        return None
    if file.size is not None and file.size > limits.max_file_mb * 1024 * 1024:
        turn.fail("errors.file_too_large", mb=limits.max_file_mb)
        return None
    files.append(file)
    return turn.text("intake.file_received", count=len(files), max=limits.max_files)


async def keep_early_file(turn: Turn) -> None:
    """A file sent before the evidence question is kept and acknowledged, and the question asked again."""
    if (note := keep_file(turn)) is not None:
        turn.reprompt(note)
