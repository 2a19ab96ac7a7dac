"""Issue 17, point 2: the audit chain's head goes to the coordinators' chat once a day, outside
the database; a head copied from the message checks the chain (`audit verify --head`)."""

from __future__ import annotations

from sqlalchemy import select

from handlers.cases.anchors import publish_chain_head
from storage.audit import ChainHead, chain_head, verify_against
from storage.models import AuditAnchor
from tests.support.clock import Clock
from tests.unit.conftest import STAFF_CHATS, Desk
from tests.unit.test_staff import _submitted


async def test_the_head_is_published_to_the_coordinators_once_a_day(desk: Desk, clock: Clock) -> None:
    await _submitted(desk)
    clock.now = clock.now.replace(hour=0)  # 07:00 in Bangkok: before the digest hour
    assert not await publish_chain_head(desk.services, clock())
    clock.advance(hours=2)
    assert await publish_chain_head(desk.services, clock())
    assert not await publish_chain_head(desk.services, clock())  # once a day
    await desk.dispatcher.drain()
    message = desk.sender.to(STAFF_CHATS["coordinators"])[-1].text
    async with desk.db.session() as s:
        head = await chain_head(s)
        assert f"audit verify --head {head}" in message
        assert (await verify_against(s, desk.services.vault, ChainHead.parse(str(head)))).ok
    clock.advance(days=1)
    assert await publish_chain_head(desk.services, clock())
    async with desk.db.session() as s:
        days = list((await s.execute(select(AuditAnchor.day).order_by(AuditAnchor.day))).scalars())
    assert [d.isoformat() for d in days] == ["2026-11-25", "2026-11-26"]
