"""What a user can send besides text: a button press by its label, a photo, a document, a voice note,
a video, a location, a contact, a sticker. The transcript drivers turn each into the channel's own update."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Press:
    """Press the button whose label contains `label` on the latest message with buttons."""

    label: str


@dataclass(frozen=True)
class Photo:
    file_id: str = "photo-1"
    size: int = 80_000
    caption: str | None = None


@dataclass(frozen=True)
class Document:
    file_id: str = "doc-1"
    name: str = "evidence.pdf"
    size: int = 120_000
    mime: str = "application/pdf"


@dataclass(frozen=True)
class Voice:
    """A voice note."""

    file_id: str = "voice-1"
    size: int = 60_000


@dataclass(frozen=True)
class Video:
    file_id: str = "video-1"
    size: int = 900_000
    caption: str | None = None


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Contact:
    phone: str
    own: bool = True


@dataclass(frozen=True)
class Sticker:
    pass
