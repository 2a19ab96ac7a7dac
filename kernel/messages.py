"""What a channel hands the conversations (`Incoming`) and what they hand back (`Reply`).

No platform type appears here: adapters translate to and from these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ChatType = Literal["private", "group"]
# the chat page on our own site (bot/webchat): its messages wait in the database for the page
WEB_CHANNEL = "web"
# files whose bytes we hold ourselves, fetched from LINE or uploaded on the web chat: "<prefix><sha256>"
HELD_PREFIXES = ("line:", "web:")
ButtonKind = Literal["payload", "location", "contact"]
# a voice note or any recording is "voice", a video or a round video note "video"
FileKind = Literal["photo", "document", "voice", "video"]
FILE_KINDS: tuple[FileKind, ...] = ("photo", "document", "voice", "video")
MediaKind = Literal["photo", "document", "voice", "video", "location"]


@dataclass(frozen=True)
class FileRef:
    kind: FileKind
    file_id: str
    file_unique_id: str | None = None
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    # when the bytes are ours (fetched from LINE): their hash, also the stored file's name
    sha256: str | None = None


def held_sha(file_id: str | None) -> str | None:
    """The hash of a file we hold ourselves, from its id; None for a platform's own file id."""
    for prefix in HELD_PREFIXES:
        if file_id and file_id.startswith(prefix):
            return file_id[len(prefix) :]
    return None


def on_earth(lat: float, lon: float) -> bool:
    """A latitude and longitude that can be a place."""
    return -90 <= lat <= 90 and -180 <= lon <= 180


@dataclass(frozen=True)
class Incoming:
    channel: str
    chat_id: str
    user_id: str
    chat_type: ChatType = "private"
    # the platform's id for this delivery; a second delivery with the same key is dropped
    update_key: str | None = None
    text: str | None = None
    payload: str | None = None
    location: tuple[float, float] | None = None
    contact_phone: str | None = None
    contact_is_own: bool = False
    file: FileRef | None = None
    # the words sent with a file (a photo's caption): a first message's description
    caption: str | None = None
    # a kind of message we do not take (sticker, voice, video, ...)
    unsupported: str | None = None
    language_code: str | None = None
    # the language chosen before the conversation began (the web chat's page): a new one starts in it
    chosen_lang: str | None = None
    # what the person sent, as the transcript kept for them shows it (the web chat's page): kept in
    # the same transaction as the answer, so a duplicate is dropped with it
    echo: str | None = None
    # the sender's display name: kept for staff (who acted), never stored for reporters
    user_name: str | None = None

    @property
    def command(self) -> tuple[str, list[str]] | None:
        """`/status CM-2569-000001 1234` → ("status", ["CM-2569-000001", "1234"])."""
        if not self.text or not self.text.startswith("/"):
            return None
        head, *args = self.text.split()
        name = head[1:].split("@", 1)[0].lower()
        return name, args


@dataclass(frozen=True)
class Button:
    label: str
    payload: str
    kind: ButtonKind = "payload"


@dataclass(frozen=True)
class Media:
    kind: MediaKind
    file_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    caption: str | None = None
    # a file made by the bot itself (a chart), base64, instead of a platform file id
    data_b64: str | None = None
    file_name: str | None = None


@dataclass
class Reply:
    """One platform message: text with buttons (rows), or one piece of media."""

    text: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    media: Media | None = None
    # hide a keyboard left by an earlier location or contact question
    remove_keyboard: bool = False
    # ask the client to answer this message (group chats only pass replies to a private-mode bot)
    force_reply: bool = False
    # replace the text and buttons of this earlier message instead of sending a new one
    edit_message_id: str | None = None
    # set by the outbox: the same for every attempt at this message (LINE's X-Line-Retry-Key)
    idempotency_key: str | None = None
    # set by the outbox: an answer to what the person just did, not a message pushed to them
    answering: bool = False

    def to_dict(self) -> dict[str, Any]:
        # written out: dataclasses.asdict copies deeply, field by field, and cost more than the
        # rest of queueing a reply
        return {
            "text": self.text,
            "buttons": [[dict(vars(b)) for b in row] for row in self.buttons],
            "media": None if self.media is None else dict(vars(self.media)),
            "remove_keyboard": self.remove_keyboard,
            "force_reply": self.force_reply,
            "edit_message_id": self.edit_message_id,
            "idempotency_key": self.idempotency_key,
            "answering": self.answering,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        media = data.get("media")
        return cls(
            text=data.get("text", ""),
            buttons=[[Button(**b) for b in row] for row in data.get("buttons", [])],
            media=Media(**media) if media else None,
            remove_keyboard=data.get("remove_keyboard", False),
            force_reply=data.get("force_reply", False),
            edit_message_id=data.get("edit_message_id"),
        )

    def button_payloads(self) -> dict[str, str]:
        return {b.label: b.payload for row in self.buttons for b in row}


# Evidence a citizen may send: pictures, recordings, PDF, office documents and plain text. A program,
# a script or a web page is refused: forwarded to a division's chat, the bot would lend it its
# authority (an "invoice.pdf.exe" captioned with a case reference). Judged by the name's last
# extension and by the type the platform reports, each when known.
EVIDENCE_EXTENSIONS = frozenset(
    "jpg jpeg png gif webp heic heif bmp tif tiff pdf doc docx xls xlsx ppt pptx odt ods odp rtf txt csv "
    "mp4 mov m4v 3gp webm mp3 m4a aac amr ogg oga opus wav".split()
)
_EVIDENCE_TYPES = (
    "image/", "video/", "audio/", "application/pdf", "text/plain", "text/csv", "application/rtf",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.",
    "application/octet-stream",  # what a platform says of a type it does not know: the name decides
)  # fmt: skip


def acceptable_evidence(file: FileRef) -> bool:
    """Whether a citizen's file may be kept and forwarded as evidence (a photo, a voice note or a
    video, as the platform made it, always may)."""
    if file.kind != "document":
        return True
    mime = (file.mime_type or "").lower()
    if mime and (mime.startswith("image/svg") or not mime.startswith(_EVIDENCE_TYPES)):
        return False
    name = (file.file_name or "").lower()
    extension = name.rsplit(".", 1)[1] if "." in name else ""
    return extension in EVIDENCE_EXTENSIONS if name else bool(mime) and mime != "application/octet-stream"


# under Telegram's 4,096 and LINE's 5,000 per message, counted as both count: in UTF-16 code units,
# where an emoji is two (counted in characters, 1,900 emoji passed our check and Telegram refused them)
TEXT_LIMIT = 4000
CUT_MARK = " …"


def text_units(text: str) -> int:
    """The length of `text` as Telegram and LINE count it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def cut_units(text: str, limit: int) -> str:
    """The longest start of `text` of at most `limit` UTF-16 units (never half an emoji)."""
    if text_units(text) <= limit:
        return text
    cut = min(len(text), limit)
    while cut > 0 and text_units(text[:cut]) > limit:
        cut -= max(1, (text_units(text[:cut]) - limit + 1) // 2)
    return text[:cut]


def fit_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` in one message: its longest lines (a description, a note) shortened, ending in
    `CUT_MARK`, so the short lines around them, a card's status or a summary's question, stay."""
    lines = text.split("\n")
    while (over := text_units("\n".join(lines)) - limit) > 0:
        longest = max(range(len(lines)), key=lambda i: text_units(lines[i]))
        keep = text_units(lines[longest]) - over - text_units(CUT_MARK)
        if keep < 1:  # no one line is long enough to take the cut: the end goes
            return cut_units(text, limit - text_units(CUT_MARK)) + CUT_MARK
        lines[longest] = cut_units(lines[longest], keep) + CUT_MARK
    return "\n".join(lines)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` UTF-16 units, cut at line breaks where possible."""
    pieces: list[str] = []
    while text_units(text) > limit:
        head = cut_units(text, limit)
        cut = head.rfind("\n")
        cut = cut if cut > len(head) // 2 else len(head)
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    pieces.append(text)
    return pieces
