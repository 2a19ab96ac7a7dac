"""`Draft`: the report a citizen is writing, kept between their messages until it is submitted.

It is stored inside the conversation's encrypted state as flat keys (`type`, `category`, …),
the layout the untyped dict used before, so a report begun before a deploy carries on after it,
and after a rollback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeGuard, get_args

from kernel.messages import FILE_KINDS, FileRef, on_earth
from kernel.org_config import OrgConfig

ReportType = Literal["corruption", "grievance", "information"]
Concerns = Literal["yes", "no", "unsure"]
REPORT_TYPES: tuple[ReportType, ...] = get_args(ReportType)
CONCERNS: tuple[Concerns, ...] = get_args(Concerns)


def is_report_type(value: object) -> TypeGuard[ReportType]:
    return value in REPORT_TYPES


def is_concerns(value: object) -> TypeGuard[Concerns]:
    return value in CONCERNS


@dataclass
class Draft:
    type: ReportType | None = None
    # does the report concern the organisation's personnel (asked before the division)
    concerns: Concerns | None = None
    named_division: str | None = None
    category: str | None = None
    description: str | None = None
    when: str | None = None
    where: str | None = None
    location: tuple[float, float] | None = None  # latitude, longitude
    people: str | None = None
    # an information request: what document or information, and in what form
    wanted: str | None = None
    files: list[FileRef] = field(default_factory=list)
    anonymous: bool = True
    name: str | None = None
    phone: str | None = None
    contact: str | None = None
    # answering again from the summary's edit menu: the chain returns to the summary
    editing: bool = False
    # begun in the citizen's own words (free-text-first): the type, category and personnel are a
    # suggestion until confirmed, and the summary sends it anonymously or with a name
    quick: bool = False

    @property
    def started(self) -> bool:
        return self.type is not None or self.quick

    def fits(self, org: OrgConfig) -> bool:
        """Whether the division and category it names still exist in the organisation file."""
        if self.named_division and self.named_division not in org.division_codes():
            return False
        if self.category and self.type:
            return self.category in [c.code for c in org.categories.for_type(self.type)]
        return True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready. A field at its default is left out: the old code read a missing key so too."""
        data: dict[str, Any] = {}
        for name in DRAFT_KEYS:
            value = getattr(self, name)
            if value == getattr(_EMPTY, name):
                continue
            if name == "location":
                value = list(value)
            elif name == "files":
                value = [_file_to_dict(file) for file in value]
            data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Draft:
        """Read a stored draft, whatever code wrote it: unknown keys are ignored, a missing or
        malformed value takes its default, so a damaged field never loses the rest of the report."""
        report_type, concerns = data.get("type"), data.get("concerns")
        anonymous, editing, quick = data.get("anonymous"), data.get("editing"), data.get("quick")
        return cls(
            type=report_type if is_report_type(report_type) else None,
            concerns=concerns if is_concerns(concerns) else None,
            named_division=_text(data.get("named_division")),
            category=_text(data.get("category")),
            description=_text(data.get("description")),
            when=_text(data.get("when")),
            where=_text(data.get("where")),
            location=_location(data.get("location")),
            people=_text(data.get("people")),
            wanted=_text(data.get("wanted")),
            files=[f for f in map(_file, _list(data.get("files"))) if f is not None],
            anonymous=anonymous if isinstance(anonymous, bool) else True,
            name=_text(data.get("name")),
            phone=_text(data.get("phone")),
            contact=_text(data.get("contact")),
            editing=editing if isinstance(editing, bool) else False,
            quick=quick if isinstance(quick, bool) else False,
        )


# the keys a draft owns in the conversation state; the rest (org, resume_step, …) is not the draft's
DRAFT_KEYS = tuple(f.name for f in fields(Draft))
_EMPTY = Draft()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: object) -> float | None:
    # bool is an int to Python, never a coordinate
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _location(value: object) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    lat, lon = _number(value[0]), _number(value[1])
    if lat is None or lon is None or not on_earth(lat, lon):
        return None
    return lat, lon


def _file(value: object) -> FileRef | None:
    if not isinstance(value, Mapping):
        return None
    kind, file_id, size = value.get("kind"), value.get("file_id"), value.get("size")
    known = next((k for k in FILE_KINDS if k == kind), None)
    if known is None or not isinstance(file_id, str) or not file_id:
        return None
    return FileRef(
        kind=known,
        file_id=file_id,
        file_unique_id=_text(value.get("file_unique_id")),
        file_name=_text(value.get("file_name")),
        mime_type=_text(value.get("mime_type")),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        sha256=_text(value.get("sha256")),
    )


def _file_to_dict(file: FileRef) -> dict[str, Any]:
    return {
        "kind": file.kind,
        "file_id": file.file_id,
        "file_unique_id": file.file_unique_id,
        "file_name": file.file_name,
        "mime_type": file.mime_type,
        "size": file.size,
        "sha256": file.sha256,
    }
