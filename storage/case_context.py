"""A case with what acting on it needs, read once: its divisions, attachments and posted cards."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from kernel.messages import FileRef
from storage.cases import primary_divisions_text
from storage.crypto import Vault
from storage.evidence import seal_name
from storage.models import (
    Attachment,
    CardMessage,
    Case,
    CaseDivision,
    ChatBinding,
    Division,
)
from storage.types import fit


@dataclass(frozen=True)
class PostedCard:
    """A copy of the case card in a chat, and what that chat is bound to in the case's organisation."""

    channel: str
    chat_id: str
    message_id: str
    bound_to: frozenset[str]


@dataclass
class CaseContext:
    """The case (row-locked on PostgreSQL until the commit) and its surroundings."""

    case: Case
    # division code → "primary" (responsible) or "informed"
    roles: dict[str, str]
    division_ids: dict[str, int]
    attachments: list[Attachment]
    cards: list[PostedCard] = field(default_factory=list)

    @property
    def case_id(self) -> int:
        assert self.case.id is not None
        return self.case.id

    def primary(self) -> tuple[str, ...]:
        return tuple(sorted(code for code, role in self.roles.items() if role == "primary"))

    def divisions(self) -> tuple[str, ...]:
        return tuple(sorted(self.roles))

    def primary_ids(self) -> set[int]:
        return {self.division_ids[code] for code in self.primary()}


_DIVISIONS = (
    select(col(Division.code), col(Division.id), col(CaseDivision.role))
    .join(CaseDivision, col(CaseDivision.division_id) == col(Division.id))
    .where(col(CaseDivision.case_id) == bindparam("case_id"))
)
_ATTACHMENTS = (
    select(Attachment).where(col(Attachment.case_id) == bindparam("case_id")).order_by(col(Attachment.id))
)
_CARDS = (
    select(
        col(CardMessage.channel),
        col(CardMessage.chat_id),
        col(CardMessage.message_id),
        col(ChatBinding.target),
    )
    .outerjoin(
        ChatBinding,
        and_(
            col(ChatBinding.channel) == col(CardMessage.channel),
            col(ChatBinding.chat_id) == col(CardMessage.chat_id),
            col(ChatBinding.org_id) == bindparam("org_id"),
        ),
    )
    .where(col(CardMessage.case_id) == bindparam("case_id"))
    .order_by(col(CardMessage.id))
)


async def load_case_context(session: AsyncSession, case_id: int) -> CaseContext | None:
    """The case to act on, locked (PostgreSQL: two chats acting on one case take turns), with its
    divisions, attachments and posted cards: four queries, whatever the action."""
    case = await session.get(Case, case_id, with_for_update=True)
    if case is None:
        return None
    key = {"case_id": case_id}
    roles: dict[str, str] = {}
    ids: dict[str, int] = {}
    for code, division_id, role in await session.execute(_DIVISIONS, key):
        assert division_id is not None  # a stored row's key
        roles[code], ids[code] = role, division_id
    attachments = list((await session.execute(_ATTACHMENTS, key)).scalars())
    cards: dict[tuple[str, str, str], set[str]] = {}
    for channel, chat_id, message_id, target in await session.execute(_CARDS, {**key, "org_id": case.org_id}):
        bound = cards.setdefault((channel, chat_id, message_id), set())
        if target is not None:
            bound.add(target)
    posted = [PostedCard(ch, chat, msg, frozenset(bound)) for (ch, chat, msg), bound in cards.items()]
    return CaseContext(case, roles, ids, attachments, posted)


async def case_division_codes(session: AsyncSession, case_id: int, role: str | None = None) -> list[str]:
    """The case's division codes (only those with `role`, when given), sorted: for the readers that
    need no more of the context (reminders, digests)."""
    stmt = select(col(Division.code)).join(CaseDivision).where(col(CaseDivision.case_id) == case_id)
    if role:
        stmt = stmt.where(col(CaseDivision.role) == role)
    return sorted((await session.execute(stmt)).scalars())


async def hand_over(
    session: AsyncSession, ctx: CaseContext, *, giving: list[str], to: str, to_id: int
) -> None:
    """Divisions `giving` stop being responsible for the case and `to` becomes so; the context and the
    case's copy of its primary divisions follow."""
    if giving:
        await session.execute(
            delete(CaseDivision).where(
                col(CaseDivision.case_id) == ctx.case_id,
                col(CaseDivision.division_id).in_([ctx.division_ids[code] for code in giving]),
            )
        )
    for code in giving:
        del ctx.roles[code]
    if to in ctx.roles:  # an informed division takes the case on
        await session.execute(
            update(CaseDivision)
            .where(col(CaseDivision.case_id) == ctx.case_id, col(CaseDivision.division_id) == to_id)
            .values(role="primary")
        )
    else:
        session.add(CaseDivision(case_id=ctx.case_id, division_id=to_id, role="primary"))
    ctx.roles[to], ctx.division_ids[to] = "primary", to_id
    ctx.case.primary_division_ids = primary_divisions_text(ctx.primary_ids())


def add_attachment(
    session: AsyncSession, ctx: CaseContext, file: FileRef, *, channel: str, vault: Vault
) -> Attachment:
    """A file the reporter added to the case: its reference on the channel it came through, its
    name (encrypted), and its hash when we hold the bytes."""
    attachment = Attachment(
        case_id=ctx.case_id, org_id=ctx.case.org_id, kind=file.kind, channel=channel,
        file_id=file.file_id, file_unique_id=file.file_unique_id, file_name=seal_name(vault, file.file_name),
        mime_type=fit(file.mime_type, 100), size=file.size, sha256=file.sha256,
    )  # fmt: skip
    session.add(attachment)
    ctx.attachments.append(attachment)
    return attachment
