"""Issue 17, point 2: the audit chain is anchored outside the database. Its links are keyed, so
someone who can write to the database but lacks the key cannot recompute it after a change; its
head is published daily to the coordinators, so even the key's holder cannot rewrite history
without `audit verify --head` finding it."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from storage.audit import (
    GENESIS,
    ChainHead,
    chain_head,
    convert_history,
    event_hash,
    verify_against,
    verify_chain,
)
from storage.crypto import Vault
from storage.db import Database
from storage.models import AuditHead, CaseEvent
from tests.storage.test_audit import _cases


async def _rewrite(database: Database, key: bytes | None, *, from_seq: int = 2) -> None:
    """What a forger with write access does: change event `from_seq` and hash every link again,
    with `key` (None: the plain SHA-256 anyone can compute), the head moved to match."""
    async with database.session() as s:
        events = list((await s.execute(select(CaseEvent).order_by(CaseEvent.seq))).scalars())
        events[from_seq - 1].status = "closed_unfounded"
        prev = GENESIS
        for event in events:
            event.prev_hash, event.hash = prev, event_hash(prev, event, key)
            prev = event.hash
        head = await s.get(AuditHead, 1)
        assert head is not None
        head.last_hash = prev
        await s.commit()


async def test_a_full_recomputation_without_the_key_is_detected(
    database: Database, orgs, vault, clock
) -> None:  # type: ignore[no-untyped-def]
    await _cases(database, orgs, vault, clock, 3)
    await _rewrite(database, None)  # every link recomputed, as the unkeyed chain allowed
    async with database.session() as s:
        report = await verify_chain(s, vault)
    assert not report.ok and report.broken_at == 1 and "changed" in (report.problem or "")
    await _rewrite(
        database, Vault(Fernet.generate_key().decode()).chain_key
    )  # or with a key of the forger's own
    async with database.session() as s:
        assert (await verify_chain(s, vault)).broken_at == 1


async def test_a_rewrite_with_the_key_fails_against_a_head_taken_outside(
    database: Database, orgs, vault, clock
) -> None:  # type: ignore[no-untyped-def]
    await _cases(database, orgs, vault, clock, 3)
    async with database.session() as s:
        published = await chain_head(s)
        assert (await verify_against(s, vault, published)).ok
        assert (await verify_against(s, vault, ChainHead(2, published.hash))).broken_at == 2
        assert "removed" in ((await verify_against(s, vault, ChainHead(4, published.hash))).problem or "")
    await _rewrite(database, vault.chain_key)  # an insider with the key
    async with database.session() as s:
        assert (await verify_chain(s, vault)).ok  # the chain alone cannot tell
        report = await verify_against(s, vault, published)
    assert not report.ok and report.broken_at == 3 and "rewritten" in (report.problem or "")


async def test_an_unkeyed_chain_is_keyed_once_and_a_broken_one_is_left_to_be_seen(
    database: Database, orgs, vault, clock, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    await _cases(database, orgs, vault, clock, 2)
    await _rewrite(database, None, from_seq=1)  # as an older version wrote it: plain SHA-256 links
    async with database.session() as s:
        await s.execute(text("UPDATE audit_head SET format = 2"))
        await s.commit()
    async with database.session() as s:
        assert (await verify_chain(s, vault)).ok  # read in its own format
        assert await convert_history(s, vault) == 0  # no note to seal; the links keyed
        await s.commit()
    async with database.session() as s:
        head = await s.get(AuditHead, 1)
        assert head is not None and head.format == 3 and (await verify_chain(s, vault)).ok
    await _rewrite(database, None, from_seq=1)  # an unkeyed chain again, then changed in place
    async with database.session() as s:
        await s.execute(text("UPDATE audit_head SET format = 2"))
        await s.execute(text("UPDATE case_events SET status = 'withdrawn' WHERE seq = 2"))
        await s.commit()
    with caplog.at_level(logging.ERROR):
        async with database.session() as s:
            await convert_history(s, vault)
            await s.commit()
    assert "broken at event 2" in caplog.text
    async with database.session() as s:
        head = await s.get(AuditHead, 1)
        assert head is not None and head.format == 2  # not converted: the break stays visible
        assert (await verify_chain(s, vault)).broken_at == 2


def test_a_head_is_read_only_in_its_written_form() -> None:
    assert ChainHead.parse(f"12:{'a' * 64}") == ChainHead(12, "a" * 64)
    for wrong in ("12", f"x:{'a' * 64}", "12:abc", f"12:{'A' * 64}"):
        with pytest.raises(ValueError, match="LENGTH:HASH"):
            ChainHead.parse(wrong)
