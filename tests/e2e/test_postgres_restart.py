"""PostgreSQL is restarted mid-run: users get a "please try again in a moment" reply, nothing entered
is lost, and the bot recovers without a restart.

The real application (build_app + run_telegram, polling the stand-in Bot API) runs on a PostgreSQL
server of the test's own (tests/e2e/private_postgres.py), which the test takes down while citizens
are mid-report; the bot's process and event loop stay the same throughout.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlmodel import col

from bot.inbox import Inbox
from bot.logs import SafeFormatter, setup_logging
from bot.web import build_web_app
from kernel.i18n import t
from kernel.messages import Reply
from storage.models import Case, InboxEvent, OutboxMessage
from storage.outbox import queue_message
from tests.e2e.conftest import (
    COORDINATORS,
    OFFICE,
    Citizen,
    RunningBot,
    press,
    start_bound_bot,
)
from tests.e2e.private_postgres import PrivatePostgres, private_postgres_or_skip
from tests.fakes.fake_bot_api import FakeBotApi

TRY_AGAIN = t("th", "errors.try_again")
UNEXPECTED = t("th", "errors.unexpected")
STALE = t("th", "errors.stale_button")
REFERENCE = re.compile(r"CM-\d{4}-\d{6}")

# One grievance, step by step: what the citizen does, and what the bot's answer holds.
Action = str | tuple[str, Any]
DIALOGUE: list[tuple[str, Action, str]] = [  # (step, action, expected)
    ("start", "/start", "กรุณาเลือกเรื่องที่ต้องการแจ้ง"),
    ("type", press("ร้องเรียน"), "บุคลากร"),
    ("personnel", press("ไม่ใช่"), "ส่วนราชการใด"),
    ("division", press("ข้าม / ไม่แน่ใจ"), "ประเภทของเรื่อง"),
    ("category", press("ถนน"), "รายละเอียดของเรื่อง"),
    ("description", "{description}", "เมื่อใด"),
    ("when", press("ข้าม"), "เกิดขึ้นที่ใด"),
    ("where", "{where}", "มีผู้เกี่ยวข้อง"),
    ("people", press("ข้าม"), "หลักฐาน"),
    ("evidence", press("ข้าม"), "ไม่เปิดเผยชื่อ"),
    ("anonymity", press("ไม่เปิดเผยชื่อ"), "สรุปเรื่องที่จะแจ้ง"),
    ("submit", press("ส่งเรื่อง"), "รหัสติดตาม"),
]
STEP = {name: n for n, (name, _, _) in enumerate(DIALOGUE)}
# Where each citizen is when the server goes down: the step they take while it is down.
DOWN_AT = ["description", "evidence", "where", "when", "anonymity", "submit"]
NOTICE_DUE = 3.0  # seconds from queueing an outbox message until it falls due (mid-outage)
SLOW_CALL = 3.0  # seconds the stand-in Bot API holds a call (the server is stopped meanwhile)
WORKERS = ("polling", "inbox", "outbox")  # run_telegram's background tasks, by name


class Reporter(Citizen):
    """A citizen with a report of their own, so the staff card shows whose draft survived."""

    def __init__(self, api: FakeBotApi, n: int) -> None:
        super().__init__(api, 8_240_001 + n)
        self.description = f"ถนนซอย {n + 11} หน้าวัดเป็นหลุมลึก รถจักรยานยนต์ล้มทุกวัน (RESTART-DESC-{n})"
        self.where = f"หมู่ {n + 3} ตำบลสุเทพ (RESTART-WHERE-{n})"
        self.step = 0  # the next step of DIALOGUE to take
        self.reference = ""

    def send(self) -> int:
        """Take the next step without waiting for the answer; how many messages came before it."""
        before = len(self.received)
        action = DIALOGUE[self.step][1]
        if isinstance(action, str):
            text = action.format(description=self.description, where=self.where)
            self.api.send_text(self.chat_id, text, language_code=self.language_code)
        else:
            self.api.press(self.chat_id, self._button_data(action[1]), language_code=self.language_code)
        return before

    def send_photo(self) -> int:
        """A photo of the evidence, without waiting for the answer; how many messages came before."""
        before = len(self.received)
        self.api.send_photo(self.chat_id, f"restart-photo-{self.chat_id}", language_code=self.language_code)
        return before

    def texts(self, since: int = 0) -> list[str]:
        return [m.text or "" for m in self.received[since:]]

    async def answer(self, before: int, within: float = 10.0) -> str:
        """Wait for the answer to the step just taken: the next question, or an apology."""
        expected = DIALOGUE[self.step][2]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            got = "\n".join(self.texts(before))
            if expected in got or TRY_AGAIN in got or UNEXPECTED in got:
                await asyncio.sleep(0.05)  # let the rest of this answer arrive
                return "\n".join(self.texts(before))
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"{self.chat_id} got no answer at {DIALOGUE[self.step][0]!r}: {self.texts()[-3:]}"
        )

    def advance(self, answer: str) -> None:
        """The next question came: on to the next step (the last answer shows the reference)."""
        for problem in (UNEXPECTED, STALE):
            assert problem not in answer, f"{self.chat_id} at {DIALOGUE[self.step][0]!r}: {answer}"
        self.step += 1
        if self.step == len(DIALOGUE):
            found = REFERENCE.search(answer)
            assert found, answer
            self.reference = found.group(0)

    async def play_until(self, name: str) -> None:
        while self.step < STEP[name]:
            answer = await self.answer(self.send())
            assert DIALOGUE[self.step][2] in answer and TRY_AGAIN not in answer, answer
            self.advance(answer)

    async def finish(self) -> None:
        while self.step < len(DIALOGUE):
            answer = await self.answer(self.send())
            assert DIALOGUE[self.step][2] in answer and TRY_AGAIN not in answer, answer
            self.advance(answer)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    server = private_postgres_or_skip()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
async def pg_bot(
    api: FakeBotApi, private_pg: PrivatePostgres, secret_key: str, tmp_path: Any
) -> AsyncIterator[RunningBot]:
    running = await start_bound_bot(api, private_pg.url, secret_key, Path(tmp_path))
    _seen.clear()
    assert _workers_alive(), _workers()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def health(pg_bot: RunningBot) -> AsyncIterator[TestClient[Any, Any]]:
    """/healthz of the webhook server, on the running bot's own services and database."""
    app = pg_bot.app
    assert app is not None
    client = TestClient(TestServer(build_web_app(app.services, Inbox(app.db, app.services.vault))))
    await client.start_server()
    yield client
    await client.close()


_seen: dict[str, asyncio.Task[Any]] = {}


def _workers() -> str:
    """The state of run_telegram's background tasks: a dead one explains a silent bot."""
    _seen.update({t.get_name(): t for t in asyncio.all_tasks() if t.get_name() in WORKERS})
    states = []
    for name in WORKERS:
        task = _seen.get(name)
        if task is None:
            states.append(f"{name}: never seen")
        elif not task.done():
            states.append(f"{name}: running")
        else:
            exc = None if task.cancelled() else task.exception()
            states.append(f"{name}: ENDED with {exc!r}")
    return "workers: " + ", ".join(states)


def _workers_alive() -> bool:
    return all(state.endswith("running") for state in _workers().removeprefix("workers: ").split(", "))


async def _wait_until(predicate: Any, what: str, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}; {_workers()}")
        await asyncio.sleep(0.05)


def _to(call: Any, chat: int) -> bool:
    return str(call.params.get("chat_id")) == str(chat)


def _texts(api: FakeBotApi, chat: int) -> list[str]:
    return [m.text or "" for m in api.messages_to(chat)]


async def _wait_until_async(count: Any, what: str, within: float = 15.0) -> None:
    """Until `count()` (a coroutine function) comes to nothing."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while await count():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}; {_workers()}")
        await asyncio.sleep(0.1)


async def _healthz(health: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
    resp = await health.get("/healthz")
    return resp.status, await resp.json()


async def _count(bot: RunningBot, model: Any, *where: Any) -> int:
    assert bot.app is not None
    async with bot.app.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _all_filed(bot: RunningBot, reporters: list[Reporter]) -> None:
    """Every report stored once, under the reference its reporter was shown; its staff card, with
    what was typed before the outage, in the office chat once; nothing left over anywhere."""
    assert bot.app is not None
    api = bot.api
    references = {r.reference for r in reporters}
    assert len(references) == len(reporters)
    async with bot.app.db.session() as session:
        stored = list((await session.execute(select(col(Case.reference)))).scalars())
    assert sorted(stored) == sorted(references)
    await _wait_until(
        lambda: all(r.reference in "\n".join(_texts(api, OFFICE)) for r in reporters),
        "every staff card reached the office chat",
    )
    cards = _texts(api, OFFICE)
    for r in reporters:
        card = next(c for c in cards if r.reference in c)
        assert r.description in card and r.where in card, card
        assert sum(r.reference in c for c in cards) == 1  # one card per case
        shown = {ref for text in r.texts() for ref in REFERENCE.findall(text)}
        assert shown == {r.reference}
    await _wait_until(lambda: api.pending_updates == [], "every update was confirmed to Telegram")
    # no update left behind in the inbox (handled, or set aside after failing; marked a few at a time)
    await _wait_until_async(
        lambda: _count(bot, InboxEvent, col(InboxEvent.processed_at).is_(None)),
        "the inbox has marked every update handled",
        within=5,
    )
    assert await _count(bot, InboxEvent, col(InboxEvent.attempts) > 0) == 0
    await _wait_until_async(
        lambda: _count(bot, OutboxMessage, col(OutboxMessage.status) != "sent"),
        "the outbox has sent everything (no row left held, leased or failed)",
        within=5,
    )
    assert bot.app.services.metrics.errors["handler"] == 0, bot.app.services.metrics.errors
    assert _workers_alive(), _workers()


async def test_citizens_asked_to_try_again_while_postgresql_is_down_then_finish(
    pg_bot: RunningBot,
    private_pg: PrivatePostgres,
    health: TestClient[Any, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup_logging("INFO")  # the application's own log configuration, as `damrongtham run` sets it
    logging.getLogger().addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    app, api = pg_bot.app, pg_bot.api
    assert app is not None and app.db.dialect == "postgresql"
    reporters = [Reporter(api, n) for n in range(len(DOWN_AT))]

    # 1. Every citizen is mid-report, each at a different step (one is about to submit); the first
    #    is a step behind, for what comes next.
    slow, busy = reporters[0], reporters[1]
    targets = [DIALOGUE[STEP[DOWN_AT[0]] - 1][0], *DOWN_AT[1:]]
    await asyncio.gather(*(r.play_until(name) for r, name in zip(reporters, targets, strict=True)))
    status, body = await _healthz(health)
    assert status == 200 and body["database"] == "ok", body
    # A message already in the outbox, due while the server is down (a notice to the coordinators).
    notice = "RESTART-NOTICE ข้อความที่ค้างในคิวก่อนฐานข้อมูลเริ่มใหม่"
    due = datetime.now(UTC) + timedelta(seconds=NOTICE_DUE)
    async with app.db.session() as session:
        await queue_message(
            session, app.services.vault, org_id=None, case_id=None, kind="alert", target="coordinators",
            channel="telegram", chat_id=str(COORDINATORS), reply=Reply(text=notice), now=due,
        )  # fmt: skip
        await session.commit()
    # When the server goes down, the first citizen's answer is on its way (claimed from the outbox,
    # Telegram slow to take it): it arrives, but that it went cannot be written down yet.
    api.delay_next("sendMessage", 1, SLOW_CALL)
    since = len(api.calls)
    slow_since = slow.send()
    await api.wait_for_call("sendMessage", since=since, predicate=lambda c: _to(c, slow.chat_id))
    # ... and the second citizen's photo of the evidence is being handled (taken from the inbox,
    # the photo being fetched from Telegram, which is slow to hand it over): the conversation is
    # not reached before the server is gone.
    api.delay_next("getFile", 1, SLOW_CALL)
    since = len(api.calls)
    busy_since = busy.send_photo()
    await api.wait_for_call("getFile", since=since)

    # 2. The server goes down (a fast shutdown: every open session, pooled ones too, is ended).
    await private_pg.astop()
    assert datetime.now(UTC) < due, "the server took too long to stop for this test's timing"
    assert slow.texts(slow_since) == busy.texts(busy_since) == [], "the server took too long to stop"
    slow.advance(await slow.answer(slow_since))  # the answer that was on its way arrives
    assert TRY_AGAIN in await busy.answer(busy_since)  # the photo being handled: "please try again"

    # 3. While it is down every other citizen takes their next step, and each is answered at once
    #    with the polite "please try again in a moment": not silence, not the unexpected-error reply.
    down_since = {r.chat_id: r.send() for r in reporters if r is not busy}
    down_since[busy.chat_id] = busy_since
    await _wait_until(
        lambda: all(TRY_AGAIN in "\n".join(r.texts(down_since[r.chat_id])) for r in reporters),
        "every citizen was asked to try again while the database is down",
    )
    # the notice falls due meanwhile; anything more for the citizens would arrive by now too
    await asyncio.sleep((due - datetime.now(UTC)).total_seconds() + 1.0)
    for r in reporters:
        got = r.texts(down_since[r.chat_id])
        assert len(got) == 1 and TRY_AGAIN in got[0], f"{r.chat_id} while down: {got}"
    assert notice not in _texts(api, COORDINATORS)  # the outbox is in the database: nothing goes out
    status, body = await _healthz(health)
    assert status == 503 and body["database"].startswith("unreachable"), body
    assert _workers_alive(), _workers()

    # 4. The server comes back; the same process, never restarted, carries on by itself.
    await private_pg.astart()
    await _wait_until(lambda: notice in _texts(api, COORDINATORS), "the queued notice was sent")
    status, body = await _healthz(health)
    assert status == 200 and body["database"] == "ok", body
    await _wait_until_async(
        lambda: _count(pg_bot, InboxEvent, col(InboxEvent.processed_at).is_(None)), "the inbox is done"
    )
    await asyncio.sleep(1.0)  # and the outbox has sent what that queued
    for r in reporters:  # what was sent while down was answered then, and is not handled again now
        assert len(r.texts(down_since[r.chat_id])) == 1, f"{r.chat_id} after the restart: {r.texts()[-3:]}"

    # 5. Each citizen is still at the step they were at: they repeat it, as asked, and finish, with
    #    everything entered before the outage kept (their staff card shows it).
    await asyncio.gather(*(r.finish() for r in reporters))
    await _all_filed(pg_bot, reporters)
    assert _texts(api, COORDINATORS).count(notice) == 1

    # 6. The outage was counted and logged as the database's, with context and no personal data.
    assert app.services.metrics.errors["database"] >= len(reporters)
    records = caplog.records
    assert any(
        "database unavailable" in rec.getMessage() and getattr(rec, "update_kind", None) for rec in records
    ), [rec.getMessage() for rec in records if rec.levelno >= logging.WARNING]
    formatter = SafeFormatter("%(levelname)s %(name)s: %(message)s")
    logged = "\n".join(formatter.format(rec) + repr(rec.__dict__) for rec in records)
    for r in reporters:
        for secret in (str(r.chat_id), r.description, r.where):
            assert secret not in logged, f"{secret!r} was logged"
    for secret in ("RESTART-DESC", "RESTART-WHERE", "RESTART-NOTICE", api.token):
        assert secret not in logged, f"{secret!r} was logged"


async def test_postgresql_restarted_while_updates_are_in_flight(
    pg_bot: RunningBot, private_pg: PrivatePostgres
) -> None:
    """`pg_ctl restart -m fast` while citizens keep typing: updates are mid-store, mid-handling and
    mid-commit. Whoever is asked to try again waits until the server is back, tries again unless
    the answer came after all, and every report is filed exactly once."""
    api = pg_bot.api
    rnd = random.Random(20261125)
    reporters = [Reporter(api, n) for n in range(8)]
    back = asyncio.Event()
    apologies = 0

    async def report(r: Reporter, pace: float) -> None:
        nonlocal apologies
        while r.step < len(DIALOGUE):
            before = r.send()
            answer = await r.answer(before, within=20)
            if TRY_AGAIN in answer:
                apologies += 1
                await back.wait()
                await asyncio.sleep(2.5)  # the inbox and outbox catch up with what they held
                answer = "\n".join(r.texts(before))
                if DIALOGUE[r.step][2] not in answer:
                    continue  # not taken: the same step again, as the apology asked
            r.advance(answer)
            await asyncio.sleep(pace)

    async def restart() -> None:
        await asyncio.sleep(1.5)  # everyone is mid-report by now
        pid = (private_pg.data / "postmaster.pid").read_text().split()[0]
        await private_pg.arestart()
        assert (private_pg.data / "postmaster.pid").read_text().split()[0] != pid
        back.set()

    paces = [rnd.uniform(0.02, 0.15) for _ in reporters]
    await asyncio.gather(restart(), *(report(r, pace) for r, pace in zip(reporters, paces, strict=True)))
    await _all_filed(pg_bot, reporters)
    assert pg_bot.app is not None
    assert apologies <= pg_bot.app.services.metrics.errors["database"]
