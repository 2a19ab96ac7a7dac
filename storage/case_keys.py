"""Each case's own key for the free text of its history (the reporter's answers and added
information, the rating comment, staff notes) and for its evidence files (storage/evidence.py).

The key is a Fernet key of its own, kept in `case_keys` wrapped (encrypted) by the organisation's
secret key. The history stores only what the case key sealed, and the audit chain hashes that, so
erasing the reporter's data destroys the key ("crypto-shredding"): every hash still verifies, and
the text can never be read again, by anyone, from the database or a backup of it made afterwards.
"""

from __future__ import annotations

from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.crypto import Vault
from storage.models import CaseKey
from storage.upsert import insert_once

SEALED = "ck1:"  # "case key, format 1": what follows is a Fernet token under the case's key
_CACHE = "case_ciphers"  # a unit of work's keys, unwrapped once: session.info[_CACHE][case_id]


class CaseCipher:
    """Seals and opens one case's text. Opening text whose key was destroyed gives None."""

    def __init__(self, key: bytes | None) -> None:
        self._fernet = Fernet(key) if key else None

    @property
    def destroyed(self) -> bool:
        return self._fernet is None

    def seal(self, text: str | None) -> str | None:
        if text is None:
            return None
        if self._fernet is None:
            raise ValueError("this case's key was destroyed; take a new one to write to it")
        return SEALED + self._fernet.encrypt(text.encode()).decode()

    def seal_bytes(self, data: bytes) -> bytes:
        if self._fernet is None:
            raise ValueError("this case's key was destroyed; take a new one to write to it")
        return self._fernet.encrypt(data)

    def open_bytes(self, token: bytes) -> bytes | None:
        """The bytes; None when the key was destroyed or did not seal them."""
        if self._fernet is None:
            return None
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            return None

    def open(self, stored: str | None) -> str | None:
        """The text; None when there is none or it can no longer be read (the key was destroyed)."""
        if not stored or not stored.startswith(SEALED) or self._fernet is None:
            return None
        try:
            return self._fernet.decrypt(stored[len(SEALED) :].encode()).decode()
        except InvalidToken:  # sealed under a key destroyed since (text older than an erasure)
            return None


async def cipher_for(session: AsyncSession, vault: Vault, case_id: int, *, writing: bool) -> CaseCipher:
    """The case's key. `writing`: take one when the case has none, or none any more (text written
    after an erasure is new text, under a new key; what the old key sealed stays unreadable)."""
    cache: dict[int, CaseCipher] = session.info.setdefault(_CACHE, {})
    cipher = cache.get(case_id)
    if cipher is not None and not (writing and cipher.destroyed):
        return cipher
    wrapped = await _wrapped(session, case_id)
    if wrapped is None and writing:
        key = Fernet.generate_key()
        sealed_key = vault.encrypt_bytes(key).decode()
        if not await insert_once(session, CaseKey, {"case_id": case_id, "wrapped": sealed_key}):
            await session.execute(
                update(CaseKey)
                .where(col(CaseKey.case_id) == case_id, col(CaseKey.wrapped).is_(None))
                .values(wrapped=sealed_key)
            )
        wrapped = await _wrapped(session, case_id)  # a concurrent writer's key, if it won
    cipher = CaseCipher(vault.decrypt_bytes(wrapped.encode()) if wrapped else None)
    cache[case_id] = cipher
    return cipher


def new_key() -> bytes:
    """A key for a case not stored yet (`adopt`): its files are sealed under it beforehand."""
    return Fernet.generate_key()


async def adopt(session: AsyncSession, vault: Vault, case_id: int, key: bytes) -> CaseCipher:
    """A new case's key, made before the case (`new_key`), stored for it now."""
    wrapped = vault.encrypt_bytes(key).decode()
    await session.execute(insert(CaseKey).values(case_id=case_id, wrapped=wrapped))
    cipher = CaseCipher(key)
    session.info.setdefault(_CACHE, {})[case_id] = cipher
    return cipher


async def destroy(session: AsyncSession, case_id: int, *, at: datetime) -> None:
    """Destroy the case's key: the text it sealed can no longer be read."""
    if not await insert_once(session, CaseKey, {"case_id": case_id, "wrapped": None, "erased_at": at}):
        await session.execute(
            update(CaseKey).where(col(CaseKey.case_id) == case_id).values(wrapped=None, erased_at=at)
        )
    session.info.setdefault(_CACHE, {}).pop(case_id, None)


async def _wrapped(session: AsyncSession, case_id: int) -> str | None:
    stmt = select(col(CaseKey.wrapped)).where(col(CaseKey.case_id) == case_id)
    return (await session.execute(stmt)).scalar_one_or_none()
