"""Personal data at rest: Fernet encryption, keyed look-up hashes and slow tracking-code hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import unicodedata
from typing import Any

from cryptography.fernet import Fernet, MultiFernet

# scrypt at n=2**14 costs ~16 MiB and tens of milliseconds: cheap once per check, slow to guess.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class Vault:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())
        # A separate key for look-up hashes, derived so one secret setting is enough.
        self._index_key = hashlib.sha256(b"damrongtham-blind-index:" + key.encode()).digest()
        # the audit chain's links (storage/audit.py): never in the database in clear
        self.chain_key = hashlib.sha256(b"damrongtham-audit-chain:" + key.encode()).digest()

    @property
    def derived_keys(self) -> tuple[bytes, bytes]:
        """(look-up hash key, chain key): carried over unchanged when the secret key is rotated."""
        return self._index_key, self.chain_key

    def adopt(self, index_key: bytes, chain_key: bytes) -> None:
        """Use the derived keys of the first secret key (storage/key_ring.py), after a rotation."""
        self._index_key, self.chain_key = index_key, chain_key

    def rewrap(self, token: str, old: Vault) -> str:
        """A token of `old` as a token of this key, without looking at what it holds."""
        return MultiFernet([self._fernet, old._fernet]).rotate(token.encode()).decode()

    def encrypt(self, data: Any) -> str:
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return self._fernet.encrypt(raw).decode()

    def decrypt(self, token: str) -> Any:
        return json.loads(self._fernet.decrypt(token.encode()))

    def encrypt_bytes(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt_bytes(self, token: bytes) -> bytes:
        return self._fernet.decrypt(token)

    def lookup_key(self, *parts: str) -> str:
        """A stable keyed hash, to find rows by a chat or user id without storing it in clear."""
        msg = "\x1f".join(parts).encode()
        return hmac.new(self._index_key, msg, hashlib.sha256).hexdigest()


def new_tracking_code() -> str:
    """16 random digits from the OS CSPRNG, grouped by four for reading aloud."""
    digits = "".join(secrets.choice("0123456789") for _ in range(16))
    return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


def normalise_tracking_code(code: str) -> str:
    """Digits only, Thai digits (๐-๙) read as 0-9."""
    return "".join(str(unicodedata.digit(ch)) for ch in code if ch.isdigit())


def hash_tracking_code(code: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        normalise_tracking_code(code).encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P
    )
    enc = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${enc(salt).decode()}${enc(digest).decode()}"


# Verified against when a reference is unknown, so both answers take the same time.
_DUMMY_HASH = hash_tracking_code("0000000000000000")


def verify_tracking_code(code: str, stored: str | None) -> bool:
    _, n, r, p, salt_b64, digest_b64 = (stored or _DUMMY_HASH).split("$")
    digest = hashlib.scrypt(
        normalise_tracking_code(code).encode(),
        salt=base64.b64decode(salt_b64),
        n=int(n),
        r=int(r),
        p=int(p),
    )
    ok = hmac.compare_digest(digest, base64.b64decode(digest_b64))
    return ok and stored is not None
