"""PDPA use cases: erasing a reporter's personal data from closed cases (after the retention period,
or on their request), and the daily limit of reports per account. The case, its history and its
statistics stay."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from handlers.cases.search import index_text
from handlers.core.work import Work
from kernel.org_config import OrgConfig
from storage import case_keys
from storage import privacy as privacy_repo
from storage import search as search_repo
from storage.audit import append_event
from storage.models import Case

ERASED = {"erased": True}


async def erase_personal_data(work: Work, case: Case, *, reason: str) -> None:
    """Reporter identity, contact and chat id, the people named and shared places, the free text
    of the history (its key is destroyed) and the files go; the case, its description and its
    figures stay."""
    vault = work.services.vault
    details = vault.decrypt(case.details_enc)
    details.update(people=None, location=None, when=None, where=None)
    case.details_enc = vault.encrypt(details)
    case.reporter_enc = vault.encrypt(ERASED)
    case.reporter_key = privacy_repo.ERASED_KEY
    # the history's free text (answers, added information, notes) was sealed under the case's key
    await case_keys.destroy(work.session, case.id or 0, at=work.now)
    # and the words it was findable by go with it: the description's stay
    await search_repo.drop_terms(work.session, case.id or 0)
    await index_text(
        work, case_id=case.id or 0, org_id=case.org_id, text=str(details.get("description") or "")
    )
    unused = await privacy_repo.erase_file_references(work.session, case.id or 0)
    files = work.services.files
    if files is not None:
        # deleted before the commit: should it fail, the references are still there but the bytes
        # are gone, which is what was asked for
        for sha in unused:
            await asyncio.to_thread(files.delete, sha)
        await asyncio.to_thread(files.delete_case, case.id or 0)
    await append_event(
        work.session, vault, case_id=case.id or 0, org_id=case.org_id, kind="erased", actor=reason,
        status=case.status, at=work.now, data={"reason": reason},
    )  # fmt: skip


async def due_for_purge(work: Work, org: OrgConfig) -> Sequence[Case]:
    """The organisation's cases closed longer ago than its retention period, data still held."""
    org_id = work.services.directory.org_ids[org.code]
    cutoff = work.now - timedelta(days=org.privacy.retention_days)
    return await privacy_repo.closed_before(work.session, org_id, cutoff)


async def too_many_reports(work: Work, org: OrgConfig, reporter_key: str) -> bool:
    """Counted from the stored cases, so the limit holds across restarts."""
    since = work.now - timedelta(days=1)
    return (
        await privacy_repo.reports_since(work.session, reporter_key, since) >= org.privacy.max_reports_per_day
    )
