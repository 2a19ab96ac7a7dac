"""A case's evidence files, kept under the case's own key (storage/case_keys.py).

A file is fetched (LINE) or downloaded (Telegram) while the report is still being written, before
there is a case, and kept under the organisation's key (storage/files.py). When it joins a case, at
submit or when the reporter adds it, it is sealed under the case's key and, once that is
committed, the first copy is deleted. Erasing the case's key then leaves its files unreadable
everywhere, a backup included, and erasure deletes them too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col, select

from storage.case_keys import CaseCipher, cipher_for
from storage.crypto import Vault
from storage.files import FileStore
from storage.models import Attachment
from storage.types import fit

log = logging.getLogger(__name__)
NAME_SEALED = "fn1:"  # "file name, format 1": what follows is a token of the secret key
_STAGED = "evidence_staged"  # session.info: the first copies to delete once the session commits


async def seal(session: AsyncSession, vault: Vault, files: FileStore, *, case_id: int, sha: str) -> bool:
    """Keep the held file `sha` under the case's key (the caller commits). False when we do not
    hold its bytes, under any key."""
    cipher = await cipher_for(session, vault, case_id, writing=True)
    # the file's work in one trip to a thread: each trip is a round of the event loop with the
    # caller's transaction open, which on SQLite holds the writer every other turn waits for
    sealed = await asyncio.to_thread(_seal_staged, files, cipher, case_id, sha)
    if sealed == "kept":
        return True
    if sealed == "not staged":  # the same file, sent with another report, is already that case's
        data = await read_held(session, vault, files, sha)
        if data is None:
            log.warning("a case's file is not held; it is kept by its reference on the channel only")
            return False
        await asyncio.to_thread(files.put_sealed, case_id, sha, cipher.seal_bytes(data))
    _delete_after_commit(session, files, sha)
    return True


def seal_ahead(files: FileStore, cipher: CaseCipher, shas: Iterable[str]) -> dict[str, Path]:
    """In a worker thread, before the case exists: copies of the held files `shas` sealed under
    the key made for it (storage.case_keys.new_key), each waiting under a name of its own for
    `place_sealed`. A file not held here is left out (`seal` at the submit looks further)."""
    sealed = {}
    for sha in shas:
        data = files.read(sha)
        if data is not None:
            sealed[sha] = files.put_ahead(cipher.seal_bytes(data))
    return sealed


def place_sealed(session: AsyncSession, files: FileStore, ahead: Path, *, case_id: int, sha: str) -> None:
    """A copy `seal_ahead` made, now the case's (the caller commits; the first copy goes then). On
    the loop's thread: a rename, where sealing it here was a trip to a thread with the
    transaction open."""
    files.place_ahead(ahead, case_id, sha)
    _delete_after_commit(session, files, sha)


def _seal_staged(
    files: FileStore, cipher: CaseCipher, case_id: int, sha: str
) -> Literal["kept", "sealed", "not staged"]:
    """In a worker thread: the case's copy of `sha` made from the copy kept while the report was
    written; "kept" when the case has a readable copy already."""
    kept = files.read_sealed(case_id, sha)
    # a copy a rolled back submit left under the same case number is under a key never committed
    if kept is not None and cipher.open_bytes(kept) is not None:
        return "kept"
    data = files.read(sha)
    if data is None:
        return "not staged"
    files.put_sealed(case_id, sha, cipher.seal_bytes(data))
    return "sealed"


async def read_held(
    session: AsyncSession, vault: Vault, files: FileStore, sha: str, *, case_id: int | None = None
) -> bytes | None:
    """The bytes of a file we hold: the copy of `case_id` (or of any case the file belongs to)
    opened with that case's key, else the copy kept while a report is written. None when there is
    none, or only copies whose case key was destroyed."""
    if case_id is None:
        found = select(col(Attachment.case_id)).where(col(Attachment.sha256) == sha).distinct()
        cases: Iterable[int] = list((await session.execute(found)).scalars())
    else:
        cases = [case_id]
    for held_by in cases:
        token = await asyncio.to_thread(files.read_sealed, held_by, sha)
        if token is None:
            continue
        data = (await cipher_for(session, vault, held_by, writing=False)).open_bytes(token)
        if data is not None:
            return data
    return await asyncio.to_thread(files.read, sha)


async def convert_files(session: AsyncSession, vault: Vault, files: FileStore) -> int:
    """Seal under their cases' keys the files an older version kept under the organisation's key
    (the caller commits; the old copies go then). A draft's files are left for its submit. The
    number of copies sealed."""
    staged = await asyncio.to_thread(files.staged)
    if not staged:
        return 0
    found = select(col(Attachment.case_id), col(Attachment.sha256)).where(col(Attachment.sha256).in_(staged))
    sealed = 0
    for case_id, sha in (await session.execute(found.distinct())).all():
        sealed += await seal(session, vault, files, case_id=case_id, sha=str(sha))
    if sealed:
        log.warning("%d evidence files were sealed under their cases' keys", sealed)
    return sealed


def seal_name(vault: Vault, name: str | None) -> str | None:
    """A document's name as it is stored: encrypted (a name like "receipt Somchai.pdf" is personal)."""
    return NAME_SEALED + vault.encrypt(fit(name, 300)) if name else None


def open_name(vault: Vault, stored: str | None) -> str | None:
    if stored is None or not stored.startswith(NAME_SEALED):
        return stored  # kept in clear by an earlier version, until convert_names
    return str(vault.decrypt(stored[len(NAME_SEALED) :]))


async def convert_names(session: AsyncSession, vault: Vault) -> int:
    """Encrypt the document names an earlier version kept in clear (the caller commits)."""
    in_clear = select(col(Attachment.id), col(Attachment.file_name)).where(
        col(Attachment.file_name).is_not(None), col(Attachment.file_name).not_like(NAME_SEALED + "%")
    )
    rows = (await session.execute(in_clear)).all()
    for row_id, name in rows:
        await session.execute(
            update(Attachment).where(col(Attachment.id) == row_id).values(file_name=seal_name(vault, name))
        )
    return len(rows)


def _delete_after_commit(session: AsyncSession, files: FileStore, sha: str) -> None:
    """The organisation-key copy goes only once the case's copy and key are committed: a rolled
    back submit leaves the draft, which still needs it."""
    staged: set[str] | None = session.info.get(_STAGED)
    if staged is not None:
        staged.add(sha)
        return
    staged = session.info[_STAGED] = {sha}

    def committed(_session: Session) -> None:
        for name in session.info.pop(_STAGED, set()):
            files.delete(name)

    def rolled_back(_session: Session) -> None:
        session.info.pop(_STAGED, None)

    event.listen(session.sync_session, "after_commit", committed, once=True)
    event.listen(session.sync_session, "after_rollback", rolled_back, once=True)
