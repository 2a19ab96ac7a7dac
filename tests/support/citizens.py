"""Simulated citizens going through the report dialogue against the stand-in Bot API, as the
end-to-end benchmarks (bench/e2e_http.py, bench/replicas.py) and the replicas test drive them: the
stand-in takes the times and keeps what each chat received; each citizen presses the buttons of
the keyboard the bot actually sent."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import col

from kernel.org_files import load_organisations
from kernel.routing import route_report
from storage import chats as chat_repo
from storage import organisations as org_repo
from storage.crypto import Vault
from storage.db import Database, upgrade_database_async
from storage.models import Case, CaseDivision, Division, InboxEvent, OutboxMessage
from tests.fakes.fake_bot_api import FakeBotApi, JSONDict, SendingLimits

REFERENCE = re.compile(r"\b[A-Z]{2,10}-\d{4}-\d{6}\b")

# every division and the coordinators get a staff group (negative ids, like Telegram groups)
STAFF_TARGETS = (
    "office", "legal", "personnel", "procurement", "finance", "audit", "engineering", "health",
    "education", "coordinators",
)  # fmt: skip


def staff_chat_id(target: str) -> str:
    return str(-1_000_000_000_000 - STAFF_TARGETS.index(target) - 1)


# --- the citizen's report dialogue ---------------------------------------------------------

DESCRIPTION = "เจ้าหน้าที่เรียกเงินห้าพันบาทเพื่อเร่งอนุมัติใบอนุญาตก่อสร้างของร้านค้าในตำบลสุเทพ"

# (step name, "text" or "press", the text typed or the value of the button pressed)
DIALOGUE: tuple[tuple[str, str, str], ...] = (
    ("start", "text", "/start"),
    ("menu", "press", "t:corruption"),
    ("personnel", "press", "yes"),
    ("division", "press", "skip"),
    ("category", "press", "c:bribery"),
    ("description", "text", DESCRIPTION),
    ("when", "press", "skip"),
    # the "where" question carries a share-location reply keyboard: its skip button sends its label
    ("where", "text", "ข้าม"),
    ("people", "press", "skip"),
    ("evidence", "press", "done"),
    ("identity", "press", "anon"),
    ("submit", "press", "submit"),
)
STEP_NAMES = tuple(step for step, _, _ in DIALOGUE)
# the same tip-off in the citizen's own words: the words, the suggestion confirmed, who and when
# and the place skipped (their share-location keyboards send the skip button's label), sent anonymously
OWN_WORDS_DIALOGUE: tuple[tuple[str, str, str], ...] = (
    ("start", "text", "/start"),
    ("words", "text", DESCRIPTION),
    ("confirm", "press", "yes"),
    ("who_when", "text", "ข้าม"),
    ("place", "text", "ข้าม"),
    ("submit", "press", "anon"),
)
DIALOGUES = {"menu": DIALOGUE, "own-words": OWN_WORDS_DIALOGUE}


@dataclass
class Citizen:
    """Where one simulated citizen is in the dialogue and the buttons they were last shown."""

    chat_id: str
    position: int = 0
    buttons: dict[str, str] = field(default_factory=dict)  # value -> full payload / callback data
    completed: int = 0

    @property
    def step(self) -> tuple[str, str, str]:
        return DIALOGUE[self.position]

    def advance(self) -> None:
        self.position += 1
        if self.position == len(DIALOGUE):
            self.position = 0
            self.completed += 1
            self.buttons = {}

    def remember(self, payloads: Sequence[str]) -> None:
        """Keep the buttons of the latest message that had any (payload "<prompt>.<value>")."""
        if payloads:
            self.buttons = {p.partition(".")[2]: p for p in payloads}

    def payload(self, value: str) -> str:
        found = self.buttons.get(value)
        if found is None:
            raise RuntimeError(
                f"chat {self.chat_id} at step {self.step[0]}: no button {value!r} in {list(self.buttons)}"
            )
        return found


# --- the stand-in Bot API, taking the times ---------------------------------------------------


@dataclass
class ChatLog:
    """What one citizen's private chat received, as the stand-in saw it."""

    send_times: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # of the messages sent (not edits), in order
    keyboard: tuple[int, list[str]] | None = None  # message id, callback data of the latest one
    keyboard_version: int = 0
    keyboard_at: float = 0.0
    confirmations: list[tuple[str, float]] = field(default_factory=list)  # reference, arrival
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class StandIn(FakeBotApi):
    """The stand-in Bot API, stamping when updates are handed over and messages arrive."""

    def __init__(self, limits: SendingLimits | None = None) -> None:
        super().__init__(limits=limits)
        self.pushed_at: dict[int, float] = {}
        self.handed_at: dict[int, float] = {}  # first getUpdates answer carrying the update
        self.query_update: dict[str, int] = {}  # callback query id -> its update
        self.query_answered_at: dict[int, float] = {}  # update -> answerCallbackQuery arrival
        self.query_answers: Counter[str] = Counter()  # callback query id -> answerCallbackQuery calls
        self.batches: list[int] = []  # updates per non-empty getUpdates answer
        self.chats: dict[int, ChatLog] = defaultdict(ChatLog)
        self.cards: dict[tuple[int, str], list[float]] = defaultdict(list)  # (staff chat, ref) -> arrivals
        # cards as text messages: a case's evidence follows its card with the reference in its caption
        self.text_cards: Counter[tuple[int, str]] = Counter()
        self.staff_other = 0  # messages to staff chats without a reference
        self.card_arrived = asyncio.Event()
        self.sends = 0

    async def __aenter__(self) -> StandIn:
        await self.start()
        return self

    def push_update(self, update: JSONDict) -> int:
        update_id = super().push_update(update)
        self.pushed_at[update_id] = time.monotonic()
        if "callback_query" in update:
            self.query_update[str(update["callback_query"]["id"])] = update_id
        return update_id

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        # the bot answers a press once its turn is done (the spinner stops with the answer on its way)
        self.query_answers[str(params.get("callback_query_id"))] += 1
        update_id = self.query_update.get(str(params.get("callback_query_id")))
        if update_id is not None:
            self.query_answered_at.setdefault(update_id, time.monotonic())
        return await super()._answer_callback_query(params)

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        batch = await super()._get_updates(params)
        now = time.monotonic()
        for update in batch:
            self.handed_at.setdefault(int(update["update_id"]), now)
        if batch:
            self.batches.append(len(batch))
        return batch

    async def _send(self, method: str, params: JSONDict, content: JSONDict) -> JSONDict:
        message = await super()._send(method, params, content)
        text = params.get("text", params.get("caption"))
        chat_id = int(message["chat"]["id"])
        self._observe(chat_id, int(message["message_id"]), text, self._reply_markup(params), False)
        found = REFERENCE.search(str(text)) if text else None
        if chat_id < 0 and found and method == "sendMessage":  # a card, not the evidence after it
            self.text_cards[(chat_id, found.group(0))] += 1
        return message

    def _record_edit(
        self,
        method: str,
        params: JSONDict,
        target: tuple[int, int, JSONDict] | None,
        text: str | None,
        markup: JSONDict | None,
    ) -> None:
        super()._record_edit(method, params, target, text, markup)
        if target is not None:
            self._observe(target[0], target[1], text, markup, True)

    def _observe(self, chat_id: int, message_id: int, text: Any, markup: JSONDict | None, edit: bool) -> None:
        now = time.monotonic()
        found = REFERENCE.search(str(text)) if text else None
        self.sends += not edit
        if chat_id < 0:  # a staff group
            if edit:
                return
            if found:
                self.cards[(chat_id, found.group(0))].append(now)
                self.card_arrived.set()
            else:
                self.staff_other += 1
            return
        log = self.chats[chat_id]
        if not edit:
            log.send_times.append(now)
            log.texts.append(str(text or ""))
        if markup is not None and "inline_keyboard" in markup:
            datas = [
                str(b["callback_data"])
                for row in markup["inline_keyboard"]
                for b in row
                if "callback_data" in b
            ]
            log.keyboard = (message_id, datas)
            log.keyboard_version += 1
            log.keyboard_at = now
        elif edit and log.keyboard is not None and log.keyboard[0] == message_id:
            log.keyboard = None  # an edit without an inline keyboard removes it
        if found:
            log.confirmations.append((found.group(0), now))
        log.changed.set()


# --- the citizens ------------------------------------------------------------------------------


@dataclass
class StepDone:
    step: str
    update_id: int
    answered_at: float  # arrival of the message that completed the bot's answer


@dataclass
class CitizenRun:
    chat_id: int
    steps: list[StepDone] = field(default_factory=list)
    reference: str = ""
    error: str = ""


def answer_time(log: ChatLog, after: tuple[str, str, str] | None, mark: tuple[int, int, int]) -> float | None:
    """When the bot's answer to a step was complete (None: not yet): the next question is in.

    The next question carries the button the citizen will press, or (for a typed step) is the one
    message answering this step; after the submit, the answer is the confirmation.
    """
    version, sends, confirmed = mark
    if after is None:
        return log.confirmations[confirmed][1] if len(log.confirmations) > confirmed else None
    if after[1] == "press":
        keyboard = log.keyboard
        fresh = log.keyboard_version > version and keyboard is not None
        if fresh and keyboard is not None and any(d.partition(".")[2] == after[2] for d in keyboard[1]):
            return log.keyboard_at
        return None
    return log.send_times[sends] if len(log.send_times) > sends else None


async def wait_answer(
    log: ChatLog, after: tuple[str, str, str] | None, mark: tuple[int, int, int], deadline: float
) -> float | None:
    while (at := answer_time(log, after, mark)) is None:
        log.changed.clear()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(log.changed.wait(), remaining)
    return at


async def play(
    api: StandIn,
    chat_id: int,
    *,
    start_at: float,
    think: tuple[float, float],
    rng: random.Random,
    deadline: float,
    dialogue: tuple[tuple[str, str, str], ...] = DIALOGUE,
) -> CitizenRun:
    """One citizen's whole report, pressing the buttons of the keyboard the bot last sent."""
    run = CitizenRun(chat_id)
    citizen = Citizen(str(chat_id))
    log = api.chats[chat_id]
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    for index, (step, kind, value) in enumerate(dialogue):
        if index and think[1] > 0:
            await asyncio.sleep(rng.uniform(*think))
        version, sends, confirmed = log.keyboard_version, len(log.send_times), len(log.confirmations)
        try:
            if kind == "text":
                update_id = api.send_text(chat_id, value)
            else:
                if log.keyboard is None:
                    raise RuntimeError("no inline keyboard to press")
                message_id, datas = log.keyboard
                citizen.remember(datas)
                update_id = api.press(chat_id, citizen.payload(value), message_id)
        except (RuntimeError, AssertionError) as exc:
            run.error = f"step {step}: {str(exc).splitlines()[0]}"
            return run
        after = dialogue[index + 1] if index + 1 < len(dialogue) else None
        answered = await wait_answer(log, after, (version, sends, confirmed), deadline)
        if answered is None:
            run.error = f"step {step}: no answer before the deadline"
            return run
        run.steps.append(StepDone(step, update_id, answered))
    run.reference = log.confirmations[-1][0]
    return run


async def prepare_database(url: str, key: str) -> None:
    """Migrated, the shipped organisation, every staff chat bound (as `damrongtham division bind`)."""
    await upgrade_database_async(url)
    db = Database(url)
    vault = Vault(key)
    try:
        async with db.session() as session:
            directory = await org_repo.sync_organisations(session, load_organisations(""))
            await session.commit()
        async with db.session() as session:
            for target in STAFF_TARGETS:
                await chat_repo.bind_chat(
                    session,
                    org_id=directory.org_ids["CM"],
                    target="coordinators" if target == "coordinators" else f"division:{target}",
                    division_id=directory.division_ids.get(("CM", target)),
                    channel="telegram",
                    chat_id=staff_chat_id(target),
                    vault=vault,
                )
            await session.commit()
    finally:
        await db.dispose()


async def routed(url: str) -> dict[str, set[int]]:
    """Case reference -> the staff chats its card must reach: its divisions' (from the database),
    and the coordinators' when the division it names was one of its rule's (a conflict of interest)."""
    orgs = load_organisations("")
    named_division = aliased(Division)
    db = Database(url)
    try:
        async with db.session() as session:
            cases = (
                await session.execute(
                    select(
                        col(Case.reference),
                        col(Case.report_type),
                        col(Case.concerns_personnel),
                        col(named_division.code),
                    ).outerjoin(named_division, col(named_division.id) == col(Case.named_division_id))
                )
            ).all()
            rows = (
                await session.execute(
                    select(col(Case.reference), col(Division.code))
                    .join(CaseDivision, col(CaseDivision.case_id) == col(Case.id))
                    .join(Division, col(Division.id) == col(CaseDivision.division_id))
                )
            ).all()
    finally:
        await db.dispose()
    out: dict[str, set[int]] = defaultdict(set)
    for reference, code in rows:
        out[reference].add(int(staff_chat_id(code)))
    for reference, report_type, concerns, named in cases:
        org = orgs[reference.split("-")[0]]
        if route_report(
            org, report_type=report_type, concerns_personnel=concerns, named_division=named
        ).coordinators:
            out[reference].add(int(staff_chat_id("coordinators")))
    return out


async def unfinished(url: str) -> tuple[int, int]:
    """(outbox rows not sent, inbox events not handled)."""
    db = Database(url)
    try:
        async with db.session() as session:
            outbox = (
                await session.execute(
                    select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.status) != "sent")
                )
            ).scalar_one()
            inbox = (
                await session.execute(
                    select(func.count()).select_from(InboxEvent).where(col(InboxEvent.processed_at).is_(None))
                )
            ).scalar_one()
    finally:
        await db.dispose()
    return int(outbox), int(inbox)


def crowd(
    api: StandIn,
    chats: Sequence[int],
    *,
    started: float,
    spread: float,
    think: tuple[float, float],
    within: float,
) -> list[asyncio.Task[CitizenRun]]:
    """A citizen for each chat, each starting within `spread` seconds of `started` (a random draw
    seeded by the chat, as are their thinking times), all done `within` seconds after it."""
    return [
        asyncio.create_task(
            play(
                api,
                chat,
                start_at=started + random.Random(chat).uniform(0, spread),
                think=think,
                rng=random.Random(chat),
                deadline=started + within,
            )
        )
        for chat in chats
    ]
