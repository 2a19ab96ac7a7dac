"""Getting messages to the right chats: division chats, the coordinators, the reporter."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.cases import cards
from handlers.core.work import Services
from kernel.i18n import t
from kernel.messages import Reply
from kernel.org_config import OrgConfig
from storage import chats as chat_repo
from storage import evidence
from storage.models import Case, ChatBinding
from storage.outbox import OutboxRow, queue_message

log = logging.getLogger(__name__)
COORDINATORS = "coordinators"


def division_target(code: str) -> str:
    return f"division:{code}"


async def deliver_card(
    session: AsyncSession,
    services: Services,
    org: OrgConfig,
    case: Case,
    card: list[Reply],
    *,
    target: str,
    role: str,
    now: datetime,
    bound: Sequence[chat_repo.BoundChat] | None = None,
) -> None:
    """Queue the card for every chat bound to `target`; with none, it waits and coordinators hear.

    `bound`: the organisation's bindings, when the caller delivers several cards (one query, not
    several per card)."""

    async def bindings_for(target: str) -> list[ChatBinding | chat_repo.BoundChat]:
        if bound is None:
            return list(await chat_repo.bindings_for(session, case.org_id, target))
        return [b for b in bound if b.target == target]

    bindings = await bindings_for(target)
    if case.report_type == "corruption":
        # The assessment criteria want a channel for corruption separate from general grievances.
        general_target = division_target(org.general_grievance_division)
        general = {(b.channel, b.chat_id) for b in await bindings_for(general_target)}
        kept = [b for b in bindings if (b.channel, b.chat_id) not in general]
        if len(kept) < len(bindings):
            log.error("corruption case card withheld from a general grievance chat")
        bindings = kept
    # an informed division is told, but acting on the case is for the responsible ones
    buttons = card[0].buttons if role != "informed" else []
    first = Reply(text=f"{cards.role_line(role)}\n{card[0].text}", buttons=buttons)
    messages = [first, *card[1:]]
    if not bindings:
        await queue_for(session, services, case, [], target, messages, now=now)  # waits for a chat
    for channel, chat_id in _chats(bindings):
        # LINE shows quick replies only on a chat's latest message: the card goes after its media there
        ordered = [*messages[1:], first] if channel == "line" else messages
        await queue_for(session, services, case, [(channel, chat_id)], target, ordered, now=now)
    if not bindings and target != COORDINATORS:
        alert = Reply(text=cards.unbound_alert(org, case, target))
        coordinators = await bindings_for(COORDINATORS)
        await queue_for(
            session, services, case, _chats(coordinators), COORDINATORS, [alert], now=now, kind="alert"
        )


def _chats(bindings: Sequence[ChatBinding | chat_repo.BoundChat]) -> list[tuple[str, str]]:
    return [(b.channel, b.chat_id) for b in bindings]


async def queue_for(
    session: AsyncSession,
    services: Services,
    case: Case,
    chats: Sequence[tuple[str, str]],
    target: str,
    messages: list[Reply],
    *,
    now: datetime,
    kind: str = "case_card",
) -> None:
    """One outbox row per message and chat; with no chat, rows wait for `division bind`."""
    to: Sequence[tuple[str | None, str | None]] = list(chats) or [(None, None)]
    for channel, chat_id in to:
        for msg in messages:
            await queue_message(
                session,
                services.vault,
                org_id=case.org_id,
                case_id=case.id,
                kind=kind,
                target=target,
                channel=channel,
                chat_id=chat_id,
                reply=msg,
                now=now,
                status="pending" if chat_id else "waiting_binding",
            )


async def notify_reporter(
    session: AsyncSession, services: Services, case: Case, reply: Reply, *, now: datetime
) -> None:
    """To the chat the case was reported from, anonymous or not (unless erased under the PDPA)."""
    chat_id = services.vault.decrypt(case.reporter_enc).get("chat_id")
    if chat_id is None:
        return
    await queue_message(
        session,
        services.vault,
        org_id=case.org_id,
        case_id=case.id,
        kind="reporter_update",
        target="reporter",
        channel=case.reporter_channel,
        chat_id=chat_id,
        reply=reply,
        now=now,
    )


async def notify_divisions(
    session: AsyncSession,
    services: Services,
    case: Case,
    division_codes: Sequence[str],
    messages: list[Reply],
    *,
    now: datetime,
    kind: str = "case_message",
) -> None:
    """To every chat bound to these divisions of the case's organisation (once per chat)."""
    seen: set[tuple[str, str]] = set()
    for code in division_codes:
        target = division_target(code)
        bindings = [
            b
            for b in await chat_repo.bindings_for(session, case.org_id, target)
            if (b.channel, b.chat_id) not in seen
        ]
        seen |= {(b.channel, b.chat_id) for b in bindings}
        if bindings:
            await queue_for(session, services, case, _chats(bindings), target, messages, now=now, kind=kind)


async def alert_undeliverable(services: Services, row: OutboxRow, now: datetime) -> None:
    """A staff chat refused a message for good (bot removed, chat deleted): the coordinators hear."""
    if row.org_id is None or not row.target.startswith("division:") or row.case_id is None:
        return
    async with services.db.session() as session:
        case = await session.get(Case, row.case_id)
        if case is None:
            return
        org = services.orgs[services.directory.org_code(row.org_id)]
        alert = Reply(text=cards.undeliverable_alert(org, case, row.target))
        coordinators = await chat_repo.bindings_for(session, row.org_id, COORDINATORS)
        await queue_for(
            session, services, case, _chats(coordinators), COORDINATORS, [alert], now=now, kind="alert"
        )
        await session.commit()


async def alert_coordinators(services: Services, key: str, **values: str) -> None:
    """A system alert (not about one case) to every organisation's coordinators' chat."""
    async with services.db.session() as session:
        await queue_alert(session, services, key, now=services.clock(), **values)
        await session.commit()
    services.on_queued()


async def queue_alert(
    session: AsyncSession, services: Services, key: str, *, now: datetime, **values: str
) -> None:
    """`alert_coordinators` in the caller's unit of work."""
    text = t(cards.STAFF_LANG, key, **values)
    for org_id in services.directory.org_ids.values():
        for b in await chat_repo.bindings_for(session, org_id, COORDINATORS):
            await queue_message(
                session, services.vault, org_id=org_id, case_id=None, kind="alert", target=COORDINATORS,
                channel=b.channel, chat_id=b.chat_id, reply=Reply(text=text), now=now,
            )  # fmt: skip


async def held_file(services: Services, sha: str) -> bytes | None:
    """A file we hold, by its hash, for a channel that sends it on (a LINE photo to a Telegram
    group, LINE's fetch of a signed link): opened with the key of a case it belongs to."""
    if services.files is None:
        return None
    async with services.db.session() as session:
        return await evidence.read_held(session, services.vault, services.files, sha)
