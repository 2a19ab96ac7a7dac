"""What a web chat form posts, read with limits: the fields, and at most one file read in pieces so
an upload past the organisation's limit is refused without holding it whole."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web

from kernel.messages import FileKind
from storage.files import image_type

FIELD_MAX = 64 * 1024  # a text field: longer than any report the conversation keeps
FIELDS = ("text", "press", "nonce", "lat", "lon", "lang")
CHUNK = 64 * 1024


class TooLarge(Exception):
    """The file is over the organisation's limit; `typed` is the text sent with it, given back."""

    def __init__(self, typed: str = "") -> None:
        super().__init__("file too large")
        self.typed = typed


@dataclass
class ChatForm:
    fields: dict[str, str] = field(default_factory=dict)
    file_name: str | None = None
    file_type: str | None = None
    file_data: bytes | None = None

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()


async def read_form(request: web.Request, file_limit: int) -> ChatForm:
    """The form; `TooLarge` past `file_limit` bytes of file, `HTTPBadRequest` for a malformed one."""
    form = ChatForm()
    if request.content_type != "multipart/form-data":
        posted = await request.post()  # small: the server's body limit applies
        form.fields = {k: v for k in FIELDS if isinstance(v := posted.get(k), str)}
        return form
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue  # a nested multipart: no form of ours sends one
        if part.name == "file" and part.filename:
            form.file_name, form.file_type = part.filename, part.headers.get("Content-Type")
            try:
                form.file_data = await _read_part(part, file_limit)
            except _Over:
                raise TooLarge(form.get("text")) from None
        elif part.name in FIELDS:
            try:
                data = await _read_part(part, FIELD_MAX)
            except _Over:
                raise web.HTTPRequestEntityTooLarge(max_size=FIELD_MAX, actual_size=FIELD_MAX + 1) from None
            form.fields[part.name] = data.decode("utf-8", errors="replace")
        else:
            await part.release()
    if form.file_data == b"":  # the file input left empty
        form.file_name = form.file_type = form.file_data = None
    return form


class _Over(Exception):
    pass


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > limit:
            raise _Over()
    return bytes(data)


def file_kind(data: bytes, declared: str | None) -> FileKind:
    """What an upload is kept as: a picture only when its bytes are one, whatever it claims."""
    if image_type(data) is not None:
        return "photo"
    declared = (declared or "").lower()
    if declared.startswith("audio/"):
        return "voice"
    if declared.startswith("video/"):
        return "video"
    return "document"
