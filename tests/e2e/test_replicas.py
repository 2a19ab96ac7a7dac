"""Two `serve` replicas on one PostgreSQL database behind a load balancer (issue 18): 200 citizens'
dialogues come in by webhook, alternating between the replicas, and one replica is killed with
SIGKILL halfway. Nothing is lost, doubled or reordered, and no citizen waits on the dead one."""

from __future__ import annotations

import asyncio
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlmodel import col

from storage.db import Database
from storage.models import Case
from tests.fakes.fake_bot_api import SendingLimits
from tests.support.balancer import Balancer
from tests.support.citizens import StandIn, crowd, play, prepare_database, routed, unfinished
from tests.support.replicas import Replicas, sender_elected, wait_until

CITIZENS = 200
FIRST_CHAT = 810_000_001
WARM_CHAT = 809_999_999
THINK = (6.0, 10.0)  # seconds between a citizen's steps: 200 of them keep near Telegram's 30 a second
SECRET = "replicas-webhook-secret-0123456789"
# Telegram's limits, but 400 a minute to a group instead of 20: every case card goes to the same
# division's group, and 200 cards at 20 a minute would make this a ten-minute test. The overall
# 30 a second, which two replicas sending each on their own would break, is Telegram's.
BOT_LIMITS = "30/1,3/3,400/60"
API_LIMITS = SendingLimits(group=(400, 60.0))
NUMBERS = re.compile(r"\d")
OWN_PREFIXES = ("DAMRONGTHAM_", "TELEGRAM_", "LINE_", "DATABASE_URL")


async def _cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def _all_sent(url: str) -> bool:
    return await unfinished(url) == (0, 0)


async def test_two_replicas_lose_double_and_reorder_nothing_when_one_is_killed_halfway(
    pg_url: str, tmp_path: Path
) -> None:
    key = Fernet.generate_key().decode()
    await prepare_database(pg_url, key)
    async with StandIn(API_LIMITS) as api:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)},
            "DATABASE_URL": pg_url,
            "DAMRONGTHAM_SECRET_KEY": key,
            "DAMRONGTHAM_DATA_DIR": str(tmp_path / "data"),  # a volume both replicas mount
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE_URL": api.base_url,
            "TELEGRAM_FILE_BASE_URL": api.base_file_url,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_RATE_LIMITS": BOT_LIMITS,
            "DAMRONGTHAM_LOG_LEVEL": "WARNING",
        }
        replicas = Replicas()
        try:
            await replicas.start(env, tmp_path, log=tmp_path / "replica-0.log")
            # the first replica sends the messages; the one killed below is the other
            await wait_until(lambda: sender_elected(pg_url), within=10)
            doomed = await replicas.start(env, tmp_path, log=tmp_path / "replica-1.log")
            async with Balancer(replicas.urls) as balancer:
                hook = f"{balancer.url}/telegram/webhook"
                code, out = await _cli(env, tmp_path, "telegram", "set-webhook", hook)
                assert code == 0, out

                # at a person's pace (a step a second), as the stand-in allows a private chat: a
                # burst of 10 messages, then one a second
                warm = await play(api, WARM_CHAT, start_at=0.0, think=(1.0, 1.0), rng=random.Random(0),
                                  deadline=time.monotonic() + 90)  # fmt: skip
                assert not warm.error, warm.error
                expected = [NUMBERS.sub("#", t) for t in api.chats[WARM_CHAT].texts]

                started = time.monotonic()
                chats = range(FIRST_CHAT, FIRST_CHAT + CITIZENS)
                citizens = crowd(api, chats, started=started, spread=5.0, think=THINK, within=240)
                halfway = len(expected) * CITIZENS // 2
                await wait_until(lambda: sum(len(api.chats[c].texts) for c in chats) >= halfway, within=240)
                await replicas.kill(doomed)
                runs = await asyncio.gather(*citizens)
                spent = time.monotonic() - started
                # the last cases' cards may trail their reporters' confirmations: chats take turns
                # in the outbox, and within the 30 a second the citizens' many chats go first
                await wait_until(lambda: _all_sent(pg_url), within=30, every=0.5)
                await asyncio.sleep(2)  # anything sent twice arrives by now
                left = await unfinished(pg_url)
                cards_due = await routed(pg_url)
                code, audit = await _cli(env, tmp_path, "audit", "verify")
        finally:
            await replicas.stop()

    assert [run.error for run in runs if run.error] == []
    # no step waited on the dead replica: each answer within 15 s of the citizen's action
    waits = [step.answered_at - api.pushed_at[step.update_id] for run in runs for step in run.steps]
    assert max(waits) < 15, f"slowest step {max(waits):.1f} s"
    # every report stored once, with its reference given to its reporter
    db = Database(pg_url)
    async with db.session() as session:
        stored = (await session.execute(select(col(Case.reference)))).scalars().all()
        count = (await session.execute(select(func.count()).select_from(Case))).scalar_one()
    await db.dispose()
    assert sorted(run.reference for run in runs) == sorted(set(stored) - {warm.reference})
    assert count == CITIZENS + 1
    # every chat got the same messages as the first citizen, in the same order, each once
    for chat in chats:
        assert [NUMBERS.sub("#", t) for t in api.chats[chat].texts] == expected, chat
    # each press answered once (by whichever replica handled it), never twice
    presses = set(api.query_update)
    assert Counter(api.query_answers[q] for q in presses) == {1: len(presses)}
    # every staff card sent once, to each chat its case is routed to
    assert {key: len(times) for key, times in api.cards.items()} == {
        (chat, ref): 1 for ref, chats_due in cards_due.items() for chat in chats_due
    }
    assert api.too_many == []  # the replicas together kept within the limits
    assert left == (0, 0)  # nothing left unsent or unhandled
    assert code == 0, audit
    assert balancer.skipped > 0  # the balancer did meet the dead replica
    assert spent < 240
