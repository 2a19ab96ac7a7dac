"""Test helpers, one module a concern: `clock`, `sender` (the recording outbox sender), `inputs` (what a
user sends), `chat` (a chat with the in-process engine), `transcript` (dialogues with strict answers,
driven on the console engine, Telegram and LINE), `rows` (raw rows for old schema revisions).

The names are re-exported here so `from tests.support import Clock` keeps working."""

from tests.support.chat import Chat
from tests.support.clock import Clock
from tests.support.inputs import Contact, Document, Location, Photo, Press, Sticker
from tests.support.rows import raw_case_row
from tests.support.sender import RecordingSender

__all__ = [
    "Chat",
    "Clock",
    "Contact",
    "Document",
    "Location",
    "Photo",
    "Press",
    "RecordingSender",
    "Sticker",
    "raw_case_row",
]
