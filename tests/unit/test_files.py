"""Evidence files at rest: content-addressed, encrypted, and older plain files taken over."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from storage.crypto import Vault
from storage.files import MAGIC, FileStore, image_type

JPEG = b"\xff\xd8\xff\xe0" + b"a receipt with a name on it " * 20


def test_a_file_is_kept_once_under_its_hash_and_never_in_clear(tmp_path: Path, vault: Vault) -> None:
    store = FileStore(tmp_path, vault)
    sha = store.put(JPEG)
    assert sha == hashlib.sha256(JPEG).hexdigest() and store.put(JPEG) == sha
    assert [p.name for p in tmp_path.iterdir()] == [sha]
    raw = (tmp_path / sha).read_bytes()
    assert raw.startswith(MAGIC) and b"receipt" not in raw
    assert store.read(sha) == JPEG
    store.delete(sha)
    assert store.read(sha) is None and list(tmp_path.iterdir()) == []


def test_a_file_kept_in_clear_before_is_read_then_encrypted(tmp_path: Path, vault: Vault) -> None:
    sha = hashlib.sha256(JPEG).hexdigest()
    (tmp_path / sha).write_bytes(JPEG)
    store = FileStore(tmp_path, vault)
    assert store.read(sha) == JPEG
    assert b"receipt" not in (tmp_path / sha).read_bytes() and store.read(sha) == JPEG


def test_only_a_hash_names_a_file_and_a_changed_file_is_not_served(tmp_path: Path, vault: Vault) -> None:
    store = FileStore(tmp_path, vault)
    (tmp_path / "secret.txt").write_bytes(b"not evidence")
    assert store.read("secret.txt") is None and store.read("../secret.txt") is None
    sha = hashlib.sha256(b"other").hexdigest()
    (tmp_path / sha).write_bytes(b"not what the name says")
    assert store.read(sha) is None
    other_key = FileStore(tmp_path, Vault(Fernet.generate_key().decode()))
    kept = store.put(JPEG)
    assert other_key.read(kept) is None  # another key cannot read it


def test_pictures_are_told_by_their_bytes() -> None:
    assert image_type(JPEG) == "image/jpeg"
    assert image_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert image_type(b"<svg onload=alert(1)>") is None and image_type(b"%PDF-1.7") is None


def test_the_same_file_kept_by_many_at_once_is_kept_whole(tmp_path: Path, vault: Vault) -> None:
    """Two citizens may send the same photo at the same moment (the web chat keeps uploads in
    threads): each write has its own partial file, so none trips over another's."""
    from concurrent.futures import ThreadPoolExecutor

    store = FileStore(tmp_path / "files", vault)
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4096  # 1 MB: writes that overlap
    with ThreadPoolExecutor(8) as pool:
        hashes = list(pool.map(lambda _: store.put(data), range(32)))
    assert set(hashes) == {hashlib.sha256(data).hexdigest()}
    assert store.read(hashes[0]) == data
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == [hashes[0]]  # no partial file left


def test_files_sealed_ahead_and_left_by_an_ended_process_are_swept(tmp_path: Path, vault: Vault) -> None:
    store = FileStore(tmp_path, vault)
    left, in_flight = store.put_ahead(b"sealed for a submit that never came"), store.put_ahead(b"now")
    two_hours_ago = time.time() - 7200
    os.utime(left, (two_hours_ago, two_hours_ago))
    assert store.sweep_ahead() == 1
    assert not left.exists() and in_flight.exists()  # another process's, in its submit right now
    sha = store.put(JPEG)
    with pytest.raises(ValueError):  # only a file sealed ahead goes into a case's folder
        store.place_ahead(tmp_path / sha, 1, sha)
    store.place_ahead(in_flight, 7, sha)
    assert store.read_sealed(7, sha) == b"now"
