"""Intake cost: what one conversation step costs us, next to a bare python-telegram-bot handler.

(a) a bare Application whose only handler replies "ok" (answering presses first);
(b) the real Telegram adapter (`attach_engine` + `TelegramSender`) on the same kind of Application:
    the engine writes the conversation to a real database, and the outbox dispatcher runs as in the
    bot (woken by the engine), so (b) includes our database writes and the outbox send.

Both get the same number of updates, built as Telegram would send them, turned into objects with
`Update.de_json` and fed to `application.process_update`; the Bot API is an in-process transport
(`tgwire.LocalTransport`), so no network is involved. (b) is driven by many citizens, each doing the
whole report dialogue (start, menu, personnel, division skipped, category, description, when /
where / people / evidence skipped, anonymous, submit), in turns, and runs on SQLite (a file in a
temp folder) and PostgreSQL (skipped with a message if unreachable).

The time of one update runs from `Update.de_json` until the dispatcher has sent every message the
update queued (the reply; for a submit also the staff cards). As in the bot, the dispatcher records
those messages as sent in its next claim, so that write is timed with the next update; the run's
updates/s covers all of it.
Telegram's sending limits are relaxed in (b) (the throttle would otherwise hold replies back);
they are `fanout.py`'s subject.

    /tmp/venv/bin/python bench/intake_cost.py [--quick] [--updates N] [--citizens N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import benchlib as bl
import tgwire
from sqlalchemy import func, select
from sqlmodel import col
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.channels import telegram as tg
from bot.outbox import OutboxDispatcher
from bot.throttle import Throttle
from handlers.engine import Engine
from storage.models import Case, OutboxMessage
from tests.support.replicas import wait_until

GOAL_MS = 15.0
GOAL = f"p99 under {GOAL_MS:.0f} ms per conversation step on SQLite (variant b)"
FIRST_CHAT = 700_000_000
MAX_REPORTS = 5  # [privacy] max_reports_per_day of kernel/orgs/cm-pao.toml


@dataclass
class Run:
    name: str
    seconds: list[float] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    wall: float = 0.0
    note: str = ""

    @property
    def per_second(self) -> float:
        return len(self.seconds) / self.wall if self.wall else float("nan")

    def by_step(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for step, s in zip(self.steps, self.seconds, strict=True):
            out[step].append(s)
        return out


def build(transport: tgwire.LocalTransport) -> Application:  # type: ignore[type-arg]
    return (
        ApplicationBuilder()
        .token(tgwire.TOKEN)
        .request(transport)
        .get_updates_request(tgwire.LocalTransport())
        .updater(None)
        .build()
    )


def schedule(updates: int, citizens: int) -> list[int]:
    """Which citizen sends each update: in turns, like many people typing at once."""
    return [i % citizens for i in range(updates)]


class Driver:
    """Turns each citizen's next dialogue step into Update JSON (pressing what the bot showed)."""

    def __init__(self, factory: tgwire.UpdateFactory, citizens: int, first_chat: int) -> None:
        self.factory = factory
        self.citizens = [bl.Citizen(str(first_chat + i)) for i in range(citizens)]

    def next_update(self, who: int, *, real_buttons: bool) -> tuple[str, dict[str, object]]:
        citizen = self.citizens[who]
        step, kind, value = citizen.step
        chat_id = int(citizen.chat_id)
        if kind == "text":
            payload = self.factory.text(chat_id, value)
        elif real_buttons:
            citizen.remember(self.factory.buttons(chat_id))
            payload = self.factory.press(chat_id, citizen.payload(value))
        else:
            payload = self.factory.press(chat_id, f"0.{value}")
        citizen.advance()
        return step, payload


async def run_bare(updates: int, citizens: int) -> Run:
    transport = tgwire.LocalTransport()
    application = build(transport)

    async def reply_only(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer()
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "ok")

    application.add_handler(TypeHandler(Update, reply_only))
    await application.initialize()
    run = Run("(a) bare PTB handler")
    try:
        warm = Driver(tgwire.UpdateFactory(transport), 1, FIRST_CHAT - 1)
        for _ in bl.DIALOGUE:
            _, payload = warm.next_update(0, real_buttons=False)
            await application.process_update(Update.de_json(payload, application.bot))
        driver = Driver(tgwire.UpdateFactory(transport), citizens, FIRST_CHAT)
        started = time.perf_counter()
        for who in schedule(updates, citizens):
            step, payload = driver.next_update(who, real_buttons=False)
            t0 = time.perf_counter()
            await application.process_update(Update.de_json(payload, application.bot))
            run.seconds.append(time.perf_counter() - t0)
            run.steps.append(step)
        run.wall = time.perf_counter() - started
    finally:
        await application.shutdown()
    assert transport.calls["sendMessage"] == updates + len(bl.DIALOGUE), dict(transport.calls)
    return run


async def run_full(name: str, url: str, updates: int, citizens: int) -> Run:
    services = await bl.make_services(url, tg.CHANNEL)
    transport = tgwire.LocalTransport()
    application = build(transport)
    engine = Engine(services)
    tg.attach_engine(application, engine)
    relaxed = Throttle(overall=(10**9, 1.0), private=(10**9, 1.0), group=(10**9, 1.0))
    sender = tg.TelegramSender(application, relaxed)
    dispatcher = OutboxDispatcher(
        services.db, services.vault, {tg.CHANNEL: sender}, clock=lambda: services.clock()
    )
    services.on_queued = dispatcher.kick
    await application.initialize()
    sending = asyncio.create_task(dispatcher.run())
    # on PostgreSQL one elected process sends (bot/outbox/election.py): this one, once it has won
    await asyncio.sleep(0)
    await wait_until(lambda: dispatcher.elected is None or tg.CHANNEL in dispatcher.elected, within=10)
    run = Run(name)
    try:
        # one whole dialogue first, untimed: compiled statements, pools and caches warm up
        warm = Driver(tgwire.UpdateFactory(transport), 1, FIRST_CHAT - 1)
        for _ in bl.DIALOGUE:
            _, payload = warm.next_update(0, real_buttons=True)
            await application.process_update(Update.de_json(payload, application.bot))
            await dispatcher.settled.wait()
        driver = Driver(tgwire.UpdateFactory(transport), citizens, FIRST_CHAT)
        started = time.perf_counter()
        for who in schedule(updates, citizens):
            step, payload = driver.next_update(who, real_buttons=True)
            t0 = time.perf_counter()
            await application.process_update(Update.de_json(payload, application.bot))
            await dispatcher.settled.wait()
            run.seconds.append(time.perf_counter() - t0)
            run.steps.append(step)
        sending.cancel()  # stopping records the last deliveries, as the bot does
        await asyncio.gather(sending, return_exceptions=True)
        run.wall = time.perf_counter() - started
        async with services.db.session() as session:
            cases = (await session.execute(select(func.count()).select_from(Case))).scalar_one()
        expected = 1 + sum(c.completed for c in driver.citizens)
        errors = sum(services.metrics.errors.values())
        run.note = (
            f"{cases} cases created (expected {expected}), {transport.calls['sendMessage']} messages sent, "
            f"{errors} engine/outbox errors"
        )
        if cases != expected or errors:
            run.note += "  <-- CHECK"
        async with services.db.session() as session:
            unrecorded = (
                await session.execute(
                    select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.status) != "sent")
                )
            ).scalar_one()
        if unrecorded:
            run.note += f", {unrecorded} messages not recorded as sent  <-- CHECK"
    finally:
        sending.cancel()
        await application.shutdown()
        await services.db.dispose()
    return run


def summary_rows(runs: list[Run], base: Run) -> list[list[object]]:
    rows: list[list[object]] = []
    base_mean = statistics.fmean(base.seconds)
    for run in runs:
        mean = statistics.fmean(run.seconds)
        rows.append(
            [
                run.name,
                len(run.seconds),
                f"{run.per_second:,.0f}",
                bl.ms(bl.percentile(run.seconds, 50)),
                bl.ms(bl.percentile(run.seconds, 99)),
                bl.ms(max(run.seconds)),
                "1.0" if run is base else f"{mean / base_mean:.1f}",
            ]
        )
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 updates instead of 2,000")
    parser.add_argument("--updates", type=int, help="updates per variant (default 2,000; --quick 300)")
    parser.add_argument("--citizens", type=int, help="simulated citizens (default: up to 100)")
    args = parser.parse_args()
    updates = args.updates or (300 if args.quick else 2000)
    citizens = args.citizens or max(1, min(100, updates // len(bl.DIALOGUE)))
    # an account may send MAX_REPORTS a day (the shipped organisation file): stay under it
    citizens = max(citizens, math.ceil(updates / (len(bl.DIALOGUE) * MAX_REPORTS)))
    logging.basicConfig(level=logging.WARNING)
    bl.header("Intake cost: bare python-telegram-bot vs our whole conversation step", GOAL)
    print(
        f"{updates} updates per variant from {citizens} citizens taking turns "
        f"({len(bl.DIALOGUE)}-step report dialogue, {updates / citizens:.1f} steps each)\n"
    )

    bare = await run_bare(updates, citizens)
    runs = [bare]
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        sqlite_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        sqlite = await run_full("(b) our intake, SQLite", sqlite_url, updates, citizens)
        runs.append(sqlite)
    pg_url, problem = await bl.create_postgres_database()
    if pg_url is None:
        print(f"PostgreSQL skipped: {bl.POSTGRES_URL} unreachable ({problem})\n")
    else:
        try:
            runs.append(await run_full("(b) our intake, PostgreSQL", pg_url, updates, citizens))
        finally:
            await bl.drop_postgres_database(pg_url)

    bl.print_table(
        ["variant", "updates", "updates/s", "p50 ms", "p99 ms", "max ms", "b/a (mean)"],
        summary_rows(runs, bare),
    )
    print()
    for run in runs[1:]:
        print(f"{run.name}: {run.note}")
    print()

    full = runs[1:]
    steps = {r.name: r.by_step() for r in full}
    headers = ["step", "n"]
    for r in full:
        short = r.name.rsplit(", ", 1)[-1]
        headers += [f"{short} p50", f"{short} p99"]
    rows: list[list[object]] = []
    for step in bl.STEP_NAMES:
        first = steps[full[0].name].get(step, [])
        row: list[object] = [step, len(first)]
        for r in full:
            values = steps[r.name].get(step, [])
            row += (
                [bl.ms(bl.percentile(values, 50)), bl.ms(bl.percentile(values, 99))] if values else ["-", "-"]
            )
        rows.append(row)
    print("per dialogue step (ms, variant b):")
    bl.print_table(headers, rows)
    print()

    p99 = bl.percentile(sqlite.seconds, 99) * 1000
    no_submit = [s for step, s in zip(sqlite.steps, sqlite.seconds, strict=True) if step != "submit"]
    submits = len(sqlite.seconds) - len(no_submit)
    detail = (
        f"SQLite p99 {p99:.1f} ms over all steps; {bl.percentile(no_submit, 99) * 1000:.1f} ms without the "
        f"{submits} submit steps ({100 * submits / len(sqlite.seconds):.1f}% of steps), which write the "
        "case, its audit event and its cards and send the confirmation and the cards"
    )
    bl.verdict(p99 < GOAL_MS, GOAL, detail)


if __name__ == "__main__":
    asyncio.run(main())
