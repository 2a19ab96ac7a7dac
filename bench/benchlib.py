"""Shared helpers for the benchmark scripts in this folder (not a benchmark itself).

Importing this module puts the repository root on `sys.path`, so the scripts can use
`tests/fakes/fake_bot_api.py` when run as `python bench/<name>.py` from the repository root.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from handlers.core.work import Services  # noqa: E402
from kernel.messages import Incoming, Reply  # noqa: E402
from kernel.org_files import load_organisations  # noqa: E402
from storage import chats as chat_repo  # noqa: E402
from storage import organisations as org_repo  # noqa: E402
from storage.crypto import Vault  # noqa: E402
from storage.db import Database, upgrade_database_async  # noqa: E402
from tests.support.citizens import (  # noqa: E402, F401  (the benchmarks' dialogue, from here)
    DESCRIPTION,
    DIALOGUE,
    DIALOGUES,
    OWN_WORDS_DIALOGUE,
    STAFF_TARGETS,
    STEP_NAMES,
    Citizen,
    staff_chat_id,
)

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")

# --- reporting ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def code_version() -> str:
    """The commit measured, and whether tracked files had changes (read-only git commands)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "commit unknown"
    return f"commit {head}" + (" with uncommitted changes" if changed else "")


def header(title: str, goal: str) -> None:
    print(f"== {title}")
    print(
        f"   {date.today().isoformat()}, nproc={os.cpu_count()}, Python {platform.python_version()}, "
        f"{code_version()}"
    )
    print(f"   goal: {goal}")
    print()


def verdict(ok: bool, goal: str, detail: str = "") -> None:
    print(f"{'PASS' if ok else 'FAIL'}: {goal}" + (f" ({detail})" if detail else ""))


def rss_mb() -> float:
    """Resident memory of this process (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


# --- databases ---------------------------------------------------------------------------


async def create_postgres_database() -> tuple[str | None, str]:
    """A fresh `bench_<random>` database: (url, "") or (None, why it is unreachable)."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await admin.dispose()
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return f"{POSTGRES_URL.rpartition('/')[0]}/{name}", ""


async def drop_postgres_database(url: str) -> None:
    name = url.rpartition("/")[2]
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def make_services(url: str, channel: str) -> Services:
    """A migrated database with the shipped organisation and every staff chat bound on `channel`."""
    await upgrade_database_async(url)
    db = Database(url)
    orgs = load_organisations("")
    vault = Vault(Fernet.generate_key().decode())
    async with db.session() as session:
        directory = await org_repo.sync_organisations(session, orgs)
        await session.commit()
    async with db.session() as session:
        for target in STAFF_TARGETS:
            code = target
            await chat_repo.bind_chat(
                session,
                org_id=directory.org_ids["CM"],
                target="coordinators" if code == "coordinators" else f"division:{code}",
                division_id=directory.division_ids.get(("CM", code)),
                channel=channel,
                chat_id=staff_chat_id(target),
                vault=vault,
            )
        await session.commit()
    return Services(db=db, orgs=orgs, directory=directory, vault=vault)


def reply_payloads(replies: Sequence[Reply]) -> list[str]:
    """Payloads of the last reply with inline buttons (what a client would let the user press)."""
    for reply in reversed(replies):
        flat = [b for row in reply.buttons for b in row]
        if flat:
            # a reply keyboard (share location or contact) sends labels as text, not payloads
            return [b.payload for b in flat] if all(b.kind == "payload" for b in flat) else []
    return []


def engine_incoming(citizen: Citizen, channel: str, update_key: str) -> Incoming:
    _, kind, value = citizen.step
    base = {
        "channel": channel,
        "chat_id": citizen.chat_id,
        "user_id": citizen.chat_id,
        "update_key": update_key,
    }
    if kind == "text":
        return Incoming(**base, text=value, language_code="th")  # type: ignore[arg-type]
    return Incoming(**base, payload=citizen.payload(value), language_code="th")  # type: ignore[arg-type]
