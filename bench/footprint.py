"""Footprint: resident memory after many completed conversations, and start-up time.

* Start-up of `python -m bot console` in a subprocess: the time from launch to the first prompt
  (the welcome menu answering `/start`, which is waiting on stdin), each run with a new temporary
  DAMRONGTHAM_DATA_DIR (so it includes generating the development key and migrating a new SQLite
  database), then once more on the same folder (a restart).
* `build_app` in this process: on a new SQLite database (with the migrations) and on the migrated one.
* Resident memory (VmRSS from /proc/self/status) of this process after N completed conversations
  through the engine of the `App` that `build_app` returned: engine-level `Incoming` objects on
  channel "bench", one new citizen per conversation doing the whole report dialogue (12 steps,
  ending in a submitted case routed to two staff chats), the outbox drained after each
  conversation by the real dispatcher with a sender that does nothing.

    /tmp/venv/bin/python bench/footprint.py [--quick] [--conversations N] [--startup-runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.settings import Settings
from kernel.messages import Reply
from storage import chats as chat_repo
from storage.models import Case, OutboxMessage

RSS_GOAL_MB, START_GOAL_S = 200.0, 3.0
GOAL = f"under {RSS_GOAL_MB:.0f} MB resident after the conversations, and start-up under {START_GOAL_S:.0f} s"
CHANNEL = "bench"
PROMPT_MARK = "  1. "  # the console numbers the first button of the welcome menu like this


class NullSender:
    async def send(self, chat_id: str, reply: Reply) -> str | None:
        return "1"


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def console_startup(data_dir: Path) -> tuple[float, float]:
    """(seconds to the banner, seconds to the first prompt) of `python -m bot console`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "TELEGRAM_", "DAMRONGTHAM_", "LINE_"))
    }
    env.update(DAMRONGTHAM_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "console",
        cwd=data_dir.parent, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"/start\n")
    await proc.stdin.drain()
    banner = prompt = float("nan")
    try:
        async with asyncio.timeout(60):
            while line := await proc.stdout.readline():
                text = line.decode("utf-8", "replace")
                if text.startswith("Damrongtham console") and math.isnan(banner):
                    banner = time.perf_counter() - started
                if text.startswith(PROMPT_MARK):
                    prompt = time.perf_counter() - started
                    break
    finally:
        proc.stdin.close()
        try:
            async with asyncio.timeout(30):
                _, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            err = b""
    if math.isnan(prompt):
        raise RuntimeError(f"the console never showed a prompt:\n{err.decode('utf-8', 'replace')[-2000:]}")
    return banner, prompt


def settings_for(folder: Path, key: str) -> Settings:
    return Settings(
        DATABASE_URL="",  # the default: an SQLite file in the data folder
        DAMRONGTHAM_SECRET_KEY=key,
        DAMRONGTHAM_DATA_DIR=str(folder),
        DAMRONGTHAM_CONFIG="",
        TELEGRAM_BOT_TOKEN="",
    )


async def bind_staff_chats(app: App) -> None:
    services = app.services
    async with app.db.session() as session:
        for target in bl.STAFF_TARGETS:
            await chat_repo.bind_chat(
                session,
                org_id=services.directory.org_ids["CM"],
                target="coordinators" if target == "coordinators" else f"division:{target}",
                division_id=services.directory.division_ids.get(("CM", target)),
                channel=CHANNEL,
                chat_id=bl.staff_chat_id(target),
                vault=services.vault,
            )
        await session.commit()


async def converse(app: App, conversations: int, checkpoints: set[int]) -> list[tuple[int, float, float]]:
    """Run the conversations; (conversations, RSS MB, seconds) at the start and each checkpoint."""
    keys = itertools.count(1)
    points = [(0, bl.rss_mb(), 0.0)]
    started = time.perf_counter()
    for n in range(1, conversations + 1):
        citizen = bl.Citizen(str(800_000_000 + n))
        while not citizen.completed:
            incoming = bl.engine_incoming(citizen, CHANNEL, f"b{next(keys)}")
            outcome = await app.engine.handle(incoming)
            if not outcome.queued:
                raise RuntimeError(f"no answer at step {citizen.step[0]} of conversation {n}")
            citizen.remember(bl.reply_payloads(outcome.queued))
            citizen.advance()
        await app.dispatcher.drain()
        if n in checkpoints:
            elapsed = time.perf_counter() - started
            points.append((n, bl.rss_mb(), elapsed))
            print(f"  ... {n} conversations, RSS {points[-1][1]:.1f} MB, {elapsed:.0f} s", flush=True)
    return points


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 conversations instead of 10,000")
    parser.add_argument("--conversations", type=int, help="completed conversations (default 10,000)")
    parser.add_argument("--startup-runs", type=int, help="start-ups measured (default 3; --quick 1)")
    args = parser.parse_args()
    conversations = args.conversations or (1000 if args.quick else 10_000)
    runs = args.startup_runs or (1 if args.quick else 3)
    logging.basicConfig(level=logging.WARNING)
    bl.header("Footprint: memory after many conversations, start-up time", GOAL)

    # --- start-up ---------------------------------------------------------------------------
    console_cold: list[float] = []
    console_warm: list[float] = []
    banners: list[float] = []
    build_cold: list[float] = []
    build_warm: list[float] = []
    key = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        for i in range(runs):
            data_dir = Path(tmp) / f"console-{i}" / "data"
            data_dir.parent.mkdir(parents=True)
            banner, prompt = await console_startup(data_dir)
            banners.append(banner)
            console_cold.append(prompt)
            console_warm.append((await console_startup(data_dir))[1])
        for i in range(runs):
            folder = Path(tmp) / f"build-{i}"
            t0 = time.perf_counter()
            app = await build_app(settings_for(folder, key))
            build_cold.append(time.perf_counter() - t0)
            await app.close()
            t0 = time.perf_counter()
            app = await build_app(settings_for(folder, key))
            build_warm.append(time.perf_counter() - t0)
            await app.close()

        def med(values: list[float]) -> str:
            return f"{statistics.median(values):.2f}" + (
                f" (max {max(values):.2f})" if len(values) > 1 else ""
            )

        print(f"start-up, median of {runs} run(s), seconds:")
        bl.print_table(
            ["what", "new data folder", "existing data folder"],
            [
                ["python -m bot console: to the banner", med(banners), "-"],
                ["python -m bot console: to the first prompt", med(console_cold), med(console_warm)],
                ["build_app in-process (imports done)", med(build_cold), med(build_warm)],
            ],
        )
        print()

        # --- memory -----------------------------------------------------------------------------
        folder = Path(tmp) / "conversations"
        rss_before_app = bl.rss_mb()
        app = await build_app(settings_for(folder, key))
        app.dispatcher.senders[CHANNEL] = NullSender()
        await bind_staff_chats(app)
        print(f"RSS before build_app {rss_before_app:.1f} MB; conversations (checkpoints):")
        checkpoints = {max(1, conversations * p // 100) for p in (1, 10, 25, 50, 75, 100)}
        try:
            points = await converse(app, conversations, checkpoints)
            async with app.db.session() as session:
                cases = (await session.execute(select(func.count()).select_from(Case))).scalar_one()
                unsent = (
                    await session.execute(
                        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
                    )
                ).scalar_one()
            errors = sum(app.services.metrics.errors.values())
        finally:
            await app.close()
        db_mb = sum(p.stat().st_size for p in folder.glob("damrongtham.sqlite3*")) / 2**20
    print()
    bl.print_table(
        ["conversations", "RSS MB", "elapsed s", "conversations/s"],
        [[n, f"{rss:.1f}", f"{t:.0f}", f"{n / t:.1f}" if t else "-"] for n, rss, t in points],
    )
    print()
    final_rss, peak = bl.rss_mb(), peak_rss_mb()
    # growth from the 10% checkpoint on: the first conversations fill caches once
    (n1, rss1, _), (n2, rss2, _) = next(p for p in points if p[0] >= conversations // 10), points[-1]
    growth = (rss2 - rss1) / max(1, n2 - n1) * 1000
    print(
        f"{cases} cases (expected {conversations}), {unsent} outbox rows unsent, {errors} errors; "
        f"SQLite files {db_mb:.1f} MB"
    )
    print(
        f"RSS at the end {final_rss:.1f} MB, peak (VmHWM) {peak:.1f} MB; "
        f"growth {growth:.2f} MB per 1,000 conversations after the first {n1}"
    )
    console, build = statistics.median(console_cold), statistics.median(build_cold)
    ok = final_rss < RSS_GOAL_MB and console < START_GOAL_S and build < START_GOAL_S
    bl.verdict(
        ok,
        GOAL,
        f"RSS {final_rss:.1f} MB after {conversations:,} conversations; new data folder: console first "
        f"prompt {console:.2f} s, build_app {build:.2f} s",
    )


if __name__ == "__main__":
    asyncio.run(main())
