"""Evidence files we hold (fetched from LINE, downloaded from Telegram): content-addressed and
encrypted at rest.

A file is named by the SHA-256 of its content, so a photo sent twice is kept once, and stored as
`MAGIC` + a Fernet token of its bytes. Files written before encryption (plain bytes under their
hash) are still read, and encrypted in place when they are. The methods block on the disk: async
callers run them in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from cryptography.fernet import InvalidToken

from storage.crypto import Vault

log = logging.getLogger(__name__)
MAGIC = b"DTF1"  # "Damrongtham file, format 1": what follows is a Fernet token
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
            log.error("a stored file cannot be decrypted with the current key")
            return None

    def delete(self, sha: str) -> None:
        path = self._path(sha)
        if path is not None:
            path.unlink(missing_ok=True)

    def _path(self, sha: str) -> Path | None:
        # the name comes from a URL or a row: only a hash is a file name here
        return self.root / sha if _SHA256.fullmatch(sha) else None

    def _write(self, path: Path, data: bytes) -> None:
        partial = path.with_suffix(".part")
        partial.write_bytes(MAGIC + self._vault.encrypt_bytes(data))
        partial.replace(path)  # atomic: a crash never leaves a truncated file under the hash
