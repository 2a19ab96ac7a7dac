"""Shared fixtures: real SQLite files and a real PostgreSQL server, a fixed clock, transcripts."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.outbox import OutboxDispatcher
from handlers.core.work import Services
from kernel.org_files import Organisations, load_organisations
from storage import organisations as org_repo
from storage.crypto import Vault
from storage.db import Database, upgrade_database_async
from tests.support.clock import Clock
from tests.support.sender import RecordingSender

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    async def probe() -> None:
        engine = create_async_engine(POSTGRES_URL)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("select 1"))
        finally:
            await engine.dispose()

    def run() -> None:
        asyncio.run(asyncio.wait_for(probe(), 5))

    # In a thread of its own: callers may already be inside an event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(run).result()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


_PG_PROBLEM: str | bool | None = False  # False: not probed yet


def postgres_problem() -> str | None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _postgres_reachable()
    assert _PG_PROBLEM is not False
    return _PG_PROBLEM


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    message = f"PostgreSQL at TEST_POSTGRES_URL={POSTGRES_URL} is not reachable ({problem})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; under CI=true PostgreSQL tests are required")
    pytest.skip(message)


async def _fresh_postgres_database() -> str:
    """A new empty database on the server, so each test starts from a clean schema."""
    name = f"dt_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    base, _, _db = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}"


async def _drop_postgres_database(url: str) -> None:
    name = url.rpartition("/")[2]
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        require_postgres()
    return str(request.param)


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new empty database on the server for the block, dropped after it."""
    url = await _fresh_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(url)


@pytest.fixture
async def db_url(backend: str, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database, for a test that is about PostgreSQL only (several processes)."""
    require_postgres()
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def processes(pg_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' engines over one migrated PostgreSQL database (replicas)."""
    await upgrade_database_async(pg_url)
    first, second = Database(pg_url), Database(pg_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def vault(secret_key: str) -> Vault:
    return Vault(secret_key)


@pytest.fixture
def orgs() -> Organisations:
    return load_organisations("")


@pytest.fixture
def clock() -> Clock:
    # A Wednesday morning in Chiang Mai (09:00 +07:00), B.E. 2569.
    return Clock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))


async def make_database(url: str) -> Database:
    await upgrade_database_async(url)
    return Database(url)


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = await make_database(db_url)
    yield db
    await db.dispose()


@pytest.fixture
async def sqlite_database(sqlite_url: str) -> AsyncIterator[Database]:
    db = await make_database(sqlite_url)
    yield db
    await db.dispose()


async def make_services(db: Database, orgs: Organisations, vault: Vault, clock: Clock) -> Services:
    async with db.session() as session:
        directory = await org_repo.sync_organisations(session, orgs)
        await session.commit()
    return Services(db=db, orgs=orgs, directory=directory, vault=vault, clock=clock)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def dispatcher_factory(vault: Vault, clock: Clock, sender: RecordingSender):  # type: ignore[no-untyped-def]
    def make(db: Database) -> OutboxDispatcher:
        return OutboxDispatcher(db, vault, {"test": sender}, clock=clock)

    return make


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Tests never read the developer's .env or data folder."""
    for name in (
        "DATABASE_URL",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_BASE_URL",
        "TELEGRAM_FILE_BASE_URL",
        "DAMRONGTHAM_CONFIG",
        "DAMRONGTHAM_SECRET_KEY",
        "DAMRONGTHAM_ENV",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAMRONGTHAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers  # CLI commands install the application's log handler
    root.setLevel(level)
