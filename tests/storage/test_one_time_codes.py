"""Security review D4: a one-time code (`/join`, `/bind`) is redeemed once, even when two chats
send it at the same moment; on PostgreSQL both used to pass the "not used yet" check."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage import staff as staff_repo
from storage.db import Database
from tests.conftest import make_services
from tests.support.clock import Clock


async def test_a_code_sent_twice_at_the_same_moment_is_redeemed_once(
    database: Database, orgs, vault, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    services = await make_services(database, orgs, vault, clock)
    async with database.session() as s:
        code = await staff_repo.create_code(
            s, org_id=services.directory.org_ids["CM"], purpose="join", target="division:legal", role="staff",
            now=clock(), ttl=timedelta(days=7),
        )  # fmt: skip
        await s.commit()
    first_redeemed = asyncio.Event()
    release = asyncio.Event()

    async def first() -> bool:
        async with database.session() as s:
            grant = await staff_repo.redeem_code(s, code, purpose="join", now=clock())
            first_redeemed.set()
            await release.wait()  # the second chat's redeem runs while this one is not yet committed
            await s.commit()
            return grant is not None

    async def second() -> bool:
        await first_redeemed.wait()
        async with database.session() as s:
            waiting = asyncio.create_task(staff_repo.redeem_code(s, code, purpose="join", now=clock()))
            await asyncio.sleep(0.3)
            release.set()
            grant = await waiting
            await s.commit()
            return grant is not None

    assert sorted(await asyncio.gather(first(), second())) == [False, True]
    async with database.session() as s:  # and, used, it stays used
        assert await staff_repo.redeem_code(s, code, purpose="join", now=clock()) is None
