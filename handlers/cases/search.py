"""Finding cases by the words in them, though their text is encrypted: each word of a case's
description, its staff notes and the reporter's answers is kept only as a keyed hash (a "blind
index"), and a search looks up the hashes of the words asked for.

Thai is written without spaces between words, so words are cut by pythainlp's dictionary-based
tokenizer; the same cut applies to the text and to the search, so "ถนนพัง" finds "ถนน พัง".
"""

from __future__ import annotations

import unicodedata

from pythainlp.tokenize import word_tokenize

from handlers.core.work import Work
from storage import search as search_repo
from storage.audit import case_history
from storage.crypto import Vault

MAX_WORDS = 8  # of a search; more narrow nothing a clerk would type


def words(text: str) -> set[str]:
    """The searchable words of a text: lower-cased, without spaces, punctuation or one-letter bits."""
    normal = unicodedata.normalize("NFC", text).lower()
    return {
        w for w in (token.strip() for token in word_tokenize(normal, keep_whitespace=False))
        if len(w) > 1 and any(ch.isalnum() for ch in w)
    }  # fmt: skip


def terms(vault: Vault, text: str, *, most: int | None = None) -> set[str]:
    """The index's keys for these words (64 bits of a keyed hash: a word cannot be read back);
    `most`: of a search, only so many of its words count."""
    return {vault.lookup_key("word", w)[:16] for w in sorted(words(text))[:most]}


async def index_text(work: Work, *, case_id: int, org_id: int, text: str) -> None:
    """Make the case findable by the words of this text."""
    await search_repo.add_terms(
        work.session, case_id=case_id, org_id=org_id, terms=terms(work.services.vault, text)
    )


async def index_cases(work: Work, *, after_id: int, batch: int = 500) -> list[int]:
    """Index the next `batch` cases after `after_id` (cases written before the index existed):
    their description, staff notes and the reporter's answers. The ids done; none at the end."""
    vault = work.services.vault
    found = await search_repo.cases_after(work.session, after_id, batch)
    for case in found:
        text = [str(vault.decrypt(case.details_enc).get("description") or "")]
        for event in await case_history(work.session, vault, case.id or 0):
            text += [event.public_note or "", event.internal_note or ""]
        await index_text(work, case_id=case.id or 0, org_id=case.org_id, text="\n".join(text))
    return [case.id or 0 for case in found]
