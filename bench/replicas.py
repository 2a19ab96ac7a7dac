"""One `serve` replica against two, on the same PostgreSQL server, behind a load balancer.

Each run takes a fresh database (the shipped organisation, every division's staff group bound),
starts N `python -m bot serve` replicas (webhook mode), puts a round-robin load balancer
(`tests/support/balancer.py`) in front of them and registers it with the stand-in Bot API
(`damrongtham telegram set-webhook`), which then delivers every update by webhook as Telegram
does. One untimed citizen warms the replicas up; then C citizens (default 200) go through the
report dialogue at once (`tests/support/citizens.py`: each waits for the bot's answer, thinks,
then types or presses a button of the keyboard the bot actually sent).

Printed per run: steps handled per second (all citizens' steps over the time from the first
action to the last answer), the time from a citizen's action to the bot's complete answer (p50,
p95, p99, max), the CPU each replica used, and what went wrong (errors, presses answered twice,
cards sent twice, 429s). Limits are relaxed by default, so the figures are the replicas' own, not
Telegram's 30 messages a second (`--limits telegram` enforces Telegram's, with a group's 20 a
minute raised to 400 so the cards do not set the pace). `--kill` kills the second replica with
SIGKILL halfway through the two-replica run (`--kill sender`: the first, which sends the
messages) and reports what that cost.

    .venv/bin/python bench/replicas.py [--citizens 200] [--think 1-3] [--replicas 1,2]
        [--limits relaxed|telegram] [--kill other|sender]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import benchlib as bl
from cryptography.fernet import Fernet

from tests.fakes.fake_bot_api import SendingLimits
from tests.support.balancer import Balancer
from tests.support.citizens import StandIn, crowd, play, prepare_database, routed, unfinished
from tests.support.replicas import Replicas, sender_elected, wait_until

SECRET = "bench-replicas-webhook-secret-0123"
FIRST_CHAT = 820_000_001
WARM_CHAT = 819_999_999
NUMBERS = re.compile(r"\d")
LIMITS = {"relaxed": "1000000/1,1000000/1,1000000/1", "telegram": "30/1,3/3,400/60"}
OWN_PREFIXES = ("DAMRONGTHAM_", "TELEGRAM_", "LINE_", "DATABASE_URL")


@dataclass
class Run:
    replicas: int
    citizens: int
    waits: list[float] = field(default_factory=list)
    deliveries: list[float] = field(default_factory=list)  # action -> its webhook answered (stored)
    steps_per_second: float = 0.0
    spent: float = 0.0
    cpu: list[float] = field(default_factory=list)
    bench_cpu: float = 0.0  # this process: the stand-in, the balancer and the citizens
    machine_busy: float = 0.0  # share of all cores busy during the run (/proc/stat)
    problems: list[str] = field(default_factory=list)
    killed: str = ""


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return sum(values) - idle, sum(values)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_once(
    count: int, citizens: int, think: tuple[float, float], limits: str, kill: str | None, tmp: Path
) -> Run:
    result = Run(count, citizens)
    url, problem = await bl.create_postgres_database()
    if url is None:
        raise SystemExit(f"PostgreSQL is not reachable: {problem}")
    key = Fernet.generate_key().decode()
    try:
        await prepare_database(url, key)
        limited = SendingLimits(group=(400, 60.0)) if limits == "telegram" else None
        async with StandIn(limited) as api:
            env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
            env.update(
                DATABASE_URL=url, DAMRONGTHAM_SECRET_KEY=key, DAMRONGTHAM_DATA_DIR=str(tmp / f"data-{count}"),
                TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_BASE_URL=api.base_url,
                TELEGRAM_FILE_BASE_URL=api.base_file_url, TELEGRAM_WEBHOOK_SECRET=SECRET,
                TELEGRAM_RATE_LIMITS=LIMITS[limits], DAMRONGTHAM_LOG_LEVEL="WARNING",
                PYTHONPATH=os.pathsep.join(p for p in (str(bl.ROOT), env.get("PYTHONPATH", "")) if p),
            )  # fmt: skip
            replicas = Replicas()
            try:
                for n in range(count):
                    await replicas.start(env, tmp, log=tmp / f"replica-{count}-{n}.log")
                    if n == 0:  # the first one sends the messages
                        await wait_until(lambda: sender_elected(url), within=30)
                async with Balancer(replicas.urls) as balancer:
                    hook = f"{balancer.url}/telegram/webhook"
                    setting = await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "bot", "telegram", "set-webhook", hook,
                        env=env, cwd=tmp, stdout=asyncio.subprocess.DEVNULL,
                    )  # fmt: skip
                    assert await setting.wait() == 0, "set-webhook failed"
                    pace = (1.0, 1.0) if limits == "telegram" else (0.0, 0.0)  # a private chat's limit
                    warm = await play(api, WARM_CHAT, start_at=0.0, think=pace, rng=random.Random(0),
                                      deadline=time.monotonic() + 120)  # fmt: skip
                    if warm.error:
                        raise SystemExit(f"the warm-up citizen failed at {warm.error}")
                    expected = [NUMBERS.sub("#", t) for t in api.chats[WARM_CHAT].texts]
                    cpu_before = [cpu_seconds(p.pid) for p in replicas.processes]
                    bench_before, ticks_before = time.process_time(), machine_ticks()
                    started = time.monotonic()
                    chats = range(FIRST_CHAT, FIRST_CHAT + citizens)
                    tasks = crowd(api, chats, started=started, spread=1.0, think=think, within=600)
                    if kill and count > 1:
                        halfway = len(expected) * citizens // 2
                        sent = lambda: sum(len(api.chats[c].texts) for c in chats)  # noqa: E731
                        await wait_until(lambda: sent() >= halfway, within=600, every=0.05)
                        doomed = 0 if kill == "sender" else 1
                        cpu_before[doomed] = cpu_seconds(replicas.processes[doomed].pid)
                        await replicas.kill(doomed)
                        at = time.monotonic() - started
                        result.killed = f"replica {doomed} ({kill}) killed at {at:.1f} s"
                    runs = await asyncio.gather(*tasks)
                    result.bench_cpu = time.process_time() - bench_before
                    ticks = machine_ticks()
                    busy, total = ticks[0] - ticks_before[0], ticks[1] - ticks_before[1]
                    result.machine_busy = busy / total if total else 0.0
                    result.cpu = [
                        cpu_seconds(p.pid) - before if p.returncode is None else 0.0
                        for p, before in zip(replicas.processes, cpu_before, strict=True)
                    ]
                    await asyncio.sleep(2)
                    left = await unfinished(url)
                    due = await routed(url)
            finally:
                await replicas.stop()
        steps = [step for run in runs for step in run.steps]
        result.waits = [step.answered_at - api.pushed_at[step.update_id] for step in steps]
        result.deliveries = [
            api.webhook_answered_at[step.update_id] - api.pushed_at[step.update_id]
            for step in steps
            if step.update_id in api.webhook_answered_at
        ]
        last = max((step.answered_at for step in steps), default=started)
        result.spent = last - started
        result.steps_per_second = len(steps) / result.spent if result.spent else 0.0
        errors = [run.error for run in runs if run.error]
        if errors:
            result.problems.append(f"{len(errors)} citizens failed, first: {errors[0]}")
        twice = sum(1 for n in api.query_answers.values() if n > 1)
        unanswered = sum(1 for q in api.query_update if not api.query_answers[q])
        if twice or unanswered:
            result.problems.append(f"presses answered twice: {twice}, never: {unanswered}")
        cards = Counter({key: len(times) for key, times in api.cards.items()})
        wanted = Counter({(chat, ref): 1 for ref, chats_due in due.items() for chat in chats_due})
        if cards != wanted:
            extra, missing = cards - wanted, wanted - cards
            result.problems.append(f"cards twice or astray: {sum(extra.values())}, missing: {len(missing)}")
        off = [c for c in chats if [NUMBERS.sub("#", t) for t in api.chats[c].texts] != expected]
        if off:
            result.problems.append(f"{len(off)} chats missed, doubled or reordered the warm-up's messages")
        if api.too_many:
            result.problems.append(f"{len(api.too_many)} calls refused with 429")
        if left != (0, 0):
            result.problems.append(f"left unsent / unhandled: {left}")
    finally:
        await bl.drop_postgres_database(url)
    return result


def report(runs: list[Run]) -> None:
    rows = []
    for run in runs:
        w = run.waits
        rows.append([
            f"{run.replicas} replica{'s' if run.replicas > 1 else ''}", run.citizens, len(w),
            f"{run.steps_per_second:.1f}", bl.ms(bl.percentile(w, 50)), bl.ms(bl.percentile(w, 95)),
            bl.ms(bl.percentile(w, 99)), bl.ms(max(w, default=0.0)), " + ".join(f"{c:.1f}" for c in run.cpu),
            f"{run.bench_cpu:.1f}", f"{run.machine_busy:.0%}",
        ])  # fmt: skip
    bl.print_table(
        ["run", "citizens", "steps", "steps/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "replica CPU s",
         "bench CPU s", "cores busy"],
        rows,
    )  # fmt: skip
    print()
    for run in runs:
        d = run.deliveries
        print(
            f"{run.replicas} replica(s): the webhook delivery (balancer, replica, stored) p50 "
            f"{bl.ms(bl.percentile(d, 50))} ms, p99 {bl.ms(bl.percentile(d, 99))} ms"
        )
    for run in runs:
        if run.killed:
            print(f"{run.replicas} replicas: {run.killed}")
        for problem in run.problems:
            print(f"{run.replicas} replica(s): PROBLEM: {problem}")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--think", default="1-3", help="seconds between a citizen's steps, A-B (0: none)")
    parser.add_argument("--replicas", default="1,2", help="replica counts to run, in order")
    parser.add_argument("--limits", choices=tuple(LIMITS), default="relaxed")
    parser.add_argument("--kill", choices=("other", "sender"), help="kill a replica halfway (2+ replicas)")
    args = parser.parse_args()
    low, _, high = args.think.partition("-")
    think = (float(low), float(high or low))
    bl.header(
        f"replicas: {args.citizens} citizens by webhook through a load balancer, think {args.think} s, "
        f"{args.limits} limits" + (f", the {args.kill} replica killed halfway" if args.kill else ""),
        "two replicas handle more steps a second than one, each step as fast or faster (p99)",
    )
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in (int(n) for n in args.replicas.split(",")):
            runs.append(await run_once(count, args.citizens, think, args.limits, args.kill, Path(tmp)))
    report(runs)
    by_count = {run.replicas: run for run in runs}
    if 1 in by_count and 2 in by_count:
        one, two = by_count[1], by_count[2]
        ok = (
            not one.problems
            and not two.problems
            and two.steps_per_second >= one.steps_per_second
            and bl.percentile(two.waits, 99) <= bl.percentile(one.waits, 99)
        )
        bl.verdict(
            ok,
            "two replicas: as many steps a second or more, p99 as fast or faster",
            f"{one.steps_per_second:.1f} -> {two.steps_per_second:.1f} steps/s, p99 "
            f"{bl.ms(bl.percentile(one.waits, 99))} -> {bl.ms(bl.percentile(two.waits, 99))} ms",
        )


if __name__ == "__main__":
    asyncio.run(main())
