"""The audit chain's head, published once a day outside the database: to every organisation's
coordinators' chat, where nobody who can only write to the database can change it, and kept in
`audit_anchors` too. `damrongtham audit verify --head LENGTH:HASH` checks the chain against a head
copied from such a message: a history rewritten since, even by someone holding the key, fails."""

from __future__ import annotations

import logging
from datetime import datetime

from handlers.cases.delivery import queue_alert
from handlers.core.work import Services
from kernel.deadlines import format_date
from storage.audit import anchored, chain_head, record_anchor

log = logging.getLogger(__name__)


async def publish_chain_head(services: Services, now: datetime) -> bool:
    """From the first organisation's digest hour on, once a day: True when it published."""
    first = services.orgs.all[0]
    local = now.astimezone(first.tz())
    if local.hour < first.deadlines.digest_hour:
        return False
    async with services.db.session() as session:
        # the job runs every few minutes: a read, not a write (SQLite's one writer), once it is done
        if await anchored(session, local.date()):
            return False
    async with services.db.session(write=True) as session:
        head = await chain_head(session)
        if head.length == 0 or not await record_anchor(session, local.date(), head, now):
            return False
        day = format_date(now, lang="th", tz=first.tz())
        await queue_alert(session, services, "alerts.chain_head", now=now, day=day, head=str(head))
        await session.commit()
    services.on_queued()
    log.info("audit chain head published", extra={"length": head.length})
    return True
