"""A case as staff may see it: what cards, `/case` and (soon) the desk's pages receive.

For an anonymous case the view is a `CaseForStaff`, which has no identity field at all, and the
reporter's encrypted identity is never even decrypted; only a named case becomes a
`NamedCaseForStaff` with the reporter's contact. A leak is then a type error, not a missed `if`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from kernel.messages import FILE_KINDS, FileKind
from storage.crypto import Vault
from storage.models import Case


@dataclass(frozen=True)
class CaseFile:
    """A photo, document, recording or video of the case, by its reference on the channel it came
    through."""

    kind: FileKind
    file_id: str
    # the attachment's id, by which the desk serves it (None before it is stored)
    number: int | None = None
    name: str | None = None
    # we hold its bytes (downloaded at arrival), so the desk can show it
    held: bool = False

    @classmethod
    def of(
        cls,
        kind: str,
        file_id: str,
        *,
        number: int | None = None,
        name: str | None = None,
        held: bool = False,
    ) -> CaseFile:
        """From a stored attachment (a kind unknown to this version is offered as a document)."""
        known: FileKind = next((k for k in FILE_KINDS if k == kind), "document")
        return cls(known, file_id, number, name, held)


@dataclass(frozen=True)
class CaseForStaff:
    id: int
    org_id: int
    reference: str
    report_type: str
    concerns_personnel: str
    category: str
    status: str
    created_at: datetime
    ack_due_at: datetime
    reply_due_at: datetime
    description: str
    when: str | None
    where: str | None
    people: str | None
    # an information request: what is wanted, in what form
    wanted: str | None
    location: tuple[float, float] | None
    files: tuple[CaseFile, ...]


@dataclass(frozen=True)
class ReporterContact:
    name: str | None
    phone: str | None
    contact: str | None


@dataclass(frozen=True)
class NamedCaseForStaff(CaseForStaff):
    """A case whose reporter chose to give their name: staff may contact them."""

    reporter: ReporterContact


def case_for_staff(case: Case, vault: Vault, files: Iterable[CaseFile]) -> CaseForStaff:
    details = vault.decrypt(case.details_enc)
    location = details.get("location")
    seen = CaseForStaff(
        id=case.id or 0, org_id=case.org_id, reference=case.reference, report_type=case.report_type,
        concerns_personnel=case.concerns_personnel, category=case.category, status=case.status,
        created_at=case.created_at, ack_due_at=case.ack_due_at, reply_due_at=case.reply_due_at,
        description=str(details.get("description") or ""), when=details.get("when"),
        where=details.get("where"), people=details.get("people"), wanted=details.get("wanted"),
        location=(float(location[0]), float(location[1])) if location else None,
        files=tuple(files),
    )  # fmt: skip
    if case.anonymous:
        return seen
    identity = vault.decrypt(case.reporter_enc)
    contact = ReporterContact(identity.get("name"), identity.get("phone"), identity.get("contact"))
    return NamedCaseForStaff(**{f.name: getattr(seen, f.name) for f in fields(seen)}, reporter=contact)
