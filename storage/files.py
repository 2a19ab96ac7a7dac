"""Evidence files we hold (fetched from LINE, downloaded from Telegram): content-addressed and
encrypted at rest.

A file arrives before its case exists: it is kept under the SHA-256 of its content, as `MAGIC` + a
Fernet token of its bytes under the organisation's key, while the report is written. Once it
belongs to a case it is kept again under `cases/<case id>/<sha>`, as `CASE_MAGIC` + a token under
the case's own key (storage/evidence.py), and the first copy goes: erasing the case's key makes
every copy of the case's files, backups included, unreadable. Files written before encryption
(plain bytes under their hash) are still read, and encrypted in place when they are. The methods
block on the disk: async callers run them in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import time
from pathlib import Path

from cryptography.fernet import InvalidToken

from storage.crypto import Vault

log = logging.getLogger(__name__)
MAGIC = b"DTF1"  # "Damrongtham file, format 1": what follows is a Fernet token
CASE_MAGIC = b"DTC1"  # "Damrongtham case file, format 1": a Fernet token under the case's key
ROTATED = ".rotated"  # a file written under the new key while the secret key is rotated
AHEAD = "ahead"  # the folder of files sealed before their case exists (put_ahead)
AHEAD_KEPT_S = 3600.0  # a file sealed ahead longer ago than this lost its submit (sweep_ahead)
_SHA256 = re.compile(r"[0-9a-f]{64}")


# what a browser may show inline, recognised by the bytes themselves (never by the sender's word)
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(data: bytes) -> str | None:
    """The image type these bytes are, if they are a JPEG, PNG, GIF or WebP picture."""
    for signature, mime in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class FileStore:
    def __init__(self, root: Path, vault: Vault) -> None:
        self.root = root
        self._vault = vault

    def put(self, data: bytes) -> str:
        """Keep these bytes; their SHA-256, by which they are found again."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.root / sha
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self._write(path, data)
        return sha

    def read(self, sha: str) -> bytes | None:
        """The bytes kept under this hash, or None when there are none (never held, or erased)."""
        path = self._path(sha)
        if path is None or not path.is_file():
            return None
        stored = path.read_bytes()
        if not stored.startswith(MAGIC):
            if hashlib.sha256(stored).hexdigest() != sha:
                log.error("a stored file is neither encrypted nor what its name says; left as it is")
                return None
            self._write(path, stored)  # kept in clear by an older version: encrypted now
            return stored
        try:
            return self._vault.decrypt_bytes(stored[len(MAGIC) :])
        except InvalidToken:
            rotated = path.with_suffix(ROTATED)
            if rotated.is_file():  # a key rotation committed, and stopped before it put this in place
                rotated.replace(path)
                return self.read(sha)
            log.error("a stored file cannot be decrypted with the current key")
            return None

    def rotate(self, new: Vault) -> list[Path]:
        """Each file kept under the organisation's key, written under `new` beside it: put in place
        by `finish_rotation` once the database's rotation commits (until then the old key reads
        them all), or removed by `abandon_rotation`."""
        prepared = []
        for sha in self.staged():
            data = self.read(sha)
            if data is None:
                continue
            rotated = self.root / (sha + ROTATED)
            self._replace(rotated, MAGIC + new.encrypt_bytes(data))
            prepared.append(rotated)
        return prepared

    @staticmethod
    def finish_rotation(prepared: list[Path]) -> None:
        for rotated in prepared:
            rotated.replace(rotated.with_suffix(""))

    @staticmethod
    def abandon_rotation(prepared: list[Path]) -> None:
        for rotated in prepared:
            rotated.unlink(missing_ok=True)

    def delete(self, sha: str) -> None:
        path = self._path(sha)
        if path is not None:
            path.unlink(missing_ok=True)

    def staged(self) -> list[str]:
        """The hashes of the files kept under the organisation's key (not yet a case's)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_file() and _SHA256.fullmatch(p.name))

    def has_sealed(self, case_id: int, sha: str) -> bool:
        path = self._case_path(case_id, sha)
        return path is not None and path.is_file()

    def put_sealed(self, case_id: int, sha: str, token: bytes) -> None:
        """Keep a case's file, sealed by the caller under the case's key."""
        path = self._case_path(case_id, sha)
        if path is None:
            raise ValueError("a file is kept under its SHA-256 only")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._replace(path, CASE_MAGIC + token)

    def put_ahead(self, token: bytes) -> Path:
        """A file sealed by the caller under a case key made before its case: kept under a random
        name of its own until `place_ahead` puts it in the case's folder."""
        folder = self.root / AHEAD
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / secrets.token_hex(16)
        self._replace(path, CASE_MAGIC + token)
        return path

    def place_ahead(self, ahead: Path, case_id: int, sha: str) -> None:
        """The file `put_ahead` kept, now in its case's folder: a rename, quick enough for the event
        loop's own thread."""
        path = self._case_path(case_id, sha)
        if path is None or ahead.parent != self.root / AHEAD:
            raise ValueError("a case's file is kept under its SHA-256, from the files sealed ahead")
        path.parent.mkdir(parents=True, exist_ok=True)
        ahead.replace(path)

    def sweep_ahead(self, older_than: float = AHEAD_KEPT_S) -> int:
        """Remove the files sealed ahead whose submit never came (its process ended first: a task
        that ends removes its own). Unreadable already, their key never stored. How many."""
        folder = self.root / AHEAD
        if not folder.is_dir():
            return 0
        before, gone = time.time() - older_than, 0
        for path in folder.iterdir():
            with contextlib.suppress(FileNotFoundError):  # another process swept it meanwhile
                if path.stat().st_mtime < before:
                    path.unlink()
                    gone += 1
        return gone

    def read_sealed(self, case_id: int, sha: str) -> bytes | None:
        """The sealed token of a case's file (to be opened with the case's key), or None."""
        path = self._case_path(case_id, sha)
        if path is None or not path.is_file():
            return None
        stored = path.read_bytes()
        return stored[len(CASE_MAGIC) :] if stored.startswith(CASE_MAGIC) else None

    def delete_case(self, case_id: int) -> None:
        """Every file kept for the case."""
        folder = self.root / "cases" / str(case_id)
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink(missing_ok=True)
            folder.rmdir()

    def _path(self, sha: str) -> Path | None:
        # the name comes from a URL or a row: only a hash is a file name here
        return self.root / sha if _SHA256.fullmatch(sha) else None

    def _case_path(self, case_id: int, sha: str) -> Path | None:
        return self.root / "cases" / str(case_id) / sha if _SHA256.fullmatch(sha) else None

    def _write(self, path: Path, data: bytes) -> None:
        self._replace(path, MAGIC + self._vault.encrypt_bytes(data))

    @staticmethod
    def _replace(path: Path, stored: bytes) -> None:
        # a partial file of its own: two people may send the same photo at the same moment
        partial = path.parent / f"{path.name}.{secrets.token_hex(6)}.part"
        partial.write_bytes(stored)
        partial.replace(path)  # atomic: a crash never leaves a truncated file under the hash
