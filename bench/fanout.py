"""Fan-out: many queued notifications sent within Telegram's limits, none lost, none doubled.

Notifications are queued in the outbox (as the conversations and jobs queue them) for a mix of
private chats and staff groups, then the real `OutboxDispatcher` loop (`run(idle_seconds=0.05)`)
sends them through the real `TelegramSender`, with its default `Throttle` (30 a second overall,
3 in 3 seconds per private chat, 20 a minute per group), over python-telegram-bot and HTTP to a
local stand-in Bot API server that ENFORCES Telegram's limits:

* 30 messages in any one second overall,
* per private chat 1 a second sustained with a burst of 3 (a token bucket),
* 20 messages in any 60 seconds per group,

and answers 429 "Too Many Requests" with `retry_after` when one is broken (the stand-in is
`tests/fakes/fake_bot_api.FakeBotApi` with those checks in front of sendMessage).

Notifications come in bursts of 1-3 messages to one chat (a reply and the next question, a case
card with its photo and location), bursts in random order (fixed seed). No group gets more than 20
in the whole run, so the run is bounded by the overall limit (2,000 at 30/s is at least 67 s);
the group share is reported.

    /tmp/venv/bin/python bench/fanout.py [--quick] [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import tempfile
import time
from collections import Counter, defaultdict, deque
from pathlib import Path
from typing import Any

import benchlib as bl
from sqlalchemy import func, select

from bot.channels import telegram as tg
from bot.outbox import OutboxDispatcher
from bot.throttle import Throttle
from kernel.messages import Reply
from storage.models import OutboxMessage
from storage.outbox import queue_message
from tests.fakes.fake_bot_api import FakeBotApi, _ApiError

GOAL_RATE = 27.0
GOAL = f"zero 429s and at least {GOAL_RATE:.0f} messages/s (90% of Telegram's 30/s)"
PRIVATE_CHATS, GROUPS, GROUP_SHARE, GROUP_CAP = 400, 20, 0.10, 20
SEED = 20261126


class LimitedBotApi(FakeBotApi):
    """The stand-in Bot API, refusing sends over Telegram's limits with 429 and retry_after."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.overall: deque[float] = deque()
        self.groups: dict[int, deque[float]] = defaultdict(deque)
        self.buckets: dict[int, tuple[float, float]] = {}  # private chat -> (tokens, at)
        self.refused: Counter[str] = Counter()
        self.early_by: list[float] = []  # for refusals: how long before the limit allowed the send
        self.accepted_at: list[float] = []

    def _check(self, chat_id: int, now: float) -> tuple[str, float] | None:
        while self.overall and self.overall[0] <= now - 1.0:
            self.overall.popleft()
        if len(self.overall) >= 30:
            return "overall 30/s", self.overall[0] + 1.0 - now
        if chat_id < 0:
            window = self.groups[chat_id]
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= 20:
                return "group 20/min", window[0] + 60.0 - now
            return None
        tokens, at = self.buckets.get(chat_id, (3.0, now))
        tokens = min(3.0, tokens + (now - at) * 1.0)
        self.buckets[chat_id] = (tokens, now)
        if tokens < 1.0:
            return "private 1/s (burst 3)", 1.0 - tokens
        return None

    def _record(self, chat_id: int, now: float) -> None:
        self.overall.append(now)
        self.accepted_at.append(now)
        if chat_id < 0:
            self.groups[chat_id].append(now)
        else:
            tokens, _ = self.buckets[chat_id]
            self.buckets[chat_id] = (tokens - 1.0, now)

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        now = time.monotonic()
        broken = self._check(chat_id, now)
        if broken is not None:
            which, wait = broken
            self.refused[which] += 1
            self.early_by.append(wait)
            retry_after = max(1, math.ceil(wait))
            raise _ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        message = await super()._send_message(params)
        self._record(chat_id, now)
        return message


class CountingThrottle(Throttle):
    """The default Throttle, counting how often it held a message back."""

    def __init__(self, overall_seconds: float = 1.0) -> None:
        if overall_seconds == 1.0:
            super().__init__()  # the defaults, untouched
        else:
            super().__init__(overall=(30, overall_seconds))
        self.chat_deferrals = 0
        self.overall_waits = 0
        self.overall_waited = 0.0

    def chat_wait(self, chat_id: str) -> float:
        wait = super().chat_wait(chat_id)
        self.chat_deferrals += wait > 0
        return wait

    def overall_wait(self) -> float:
        wait = super().overall_wait()
        if wait > 0:
            self.overall_waits += 1
            self.overall_waited += wait
        return wait


def plan(messages: int) -> list[tuple[int, str]]:
    """(chat id, text) in queue order: bursts of 1-3 messages to one chat, bursts shuffled."""
    rng = random.Random(SEED)
    privates = [600_000_001 + i for i in range(PRIVATE_CHATS)]
    groups = [-1_001_700_000_001 - i for i in range(GROUPS)]
    group_budget = min(int(messages * GROUP_SHARE), GROUPS * GROUP_CAP)
    per_group: Counter[int] = Counter()
    bursts: list[list[int]] = []
    private_cycle: list[int] = []
    total = group_total = 0
    while total < messages:
        size = min(rng.choice((1, 1, 2, 2, 3)), messages - total)
        open_groups = [g for g in groups if per_group[g] + size <= GROUP_CAP]
        if group_total < group_budget and open_groups and rng.random() < 2 * GROUP_SHARE:
            chat = rng.choice(open_groups)
            per_group[chat] += size
            group_total += size
        else:
            if not private_cycle:  # every private chat in turn, in a fresh random order each round
                private_cycle = rng.sample(privates, len(privates))
            chat = private_cycle.pop()
        bursts.append([chat] * size)
        total += size
    rng.shuffle(bursts)
    out: list[tuple[int, str]] = []
    for burst in bursts:
        for chat in burst:
            n = len(out) + 1
            out.append((chat, f"#{n:05d} แจ้งความคืบหน้าเรื่อง CM-2569-{n:06d}: เจ้าหน้าที่รับเรื่องแล้ว"))
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 messages instead of 2,000")
    parser.add_argument("--messages", type=int, help="messages to queue (default 2,000; --quick 300)")
    parser.add_argument(
        "--overall-seconds",
        type=float,
        default=1.0,
        help="experiment: the throttle's overall window (30 per this many seconds; default 1.0, its default)",
    )
    args = parser.parse_args()
    count = args.messages or (300 if args.quick else 2000)
    logging.basicConfig(level=logging.WARNING)
    # every deferral by our own throttle is logged as a warning; counted here instead
    logging.getLogger("bot.outbox").setLevel(logging.ERROR)
    bl.header("Fan-out: queued notifications through the throttle to a rate-limiting Bot API", GOAL)

    queued = plan(count)
    chats = Counter(chat for chat, _ in queued)
    to_groups = sum(n for chat, n in chats.items() if chat < 0)
    print(
        f"{count} messages to {sum(1 for c in chats if c > 0)} private chats and "
        f"{sum(1 for c in chats if c < 0)} groups; group share {100 * to_groups / count:.1f}% "
        f"(at most {max((n for c, n in chats.items() if c < 0), default=0)} per group), "
        f"up to {max(n for c, n in chats.items() if c > 0)} per private chat\n"
    )

    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        services = await bl.make_services(url, tg.CHANNEL)
        async with LimitedBotApi() as api:
            application = tg.build_application(
                api.token, base_url=api.base_url, base_file_url=api.base_file_url
            )
            throttle = CountingThrottle(args.overall_seconds)
            if args.overall_seconds != 1.0:
                print(f"EXPERIMENT: the throttle's overall window is 30 per {args.overall_seconds} s\n")
            dispatcher = OutboxDispatcher(
                services.db,
                services.vault,
                {tg.CHANNEL: tg.TelegramSender(application, throttle)},
                clock=lambda: services.clock(),
            )
            await application.initialize()
            now = services.clock()
            async with services.db.session() as session:
                for chat, text in queued:
                    await queue_message(
                        session, services.vault, org_id=None, case_id=None, kind="notice", target="reply",
                        channel=tg.CHANNEL, chat_id=str(chat), reply=Reply(text=text), now=now,
                    )  # fmt: skip
                await session.commit()

            started = time.monotonic()
            sender = asyncio.create_task(dispatcher.run(idle_seconds=0.05), name="outbox")
            deadline = started + max(600.0, count / 10)
            unsent = count
            while time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                if len(api.sent) < count:
                    continue
                async with services.db.session() as session:
                    unsent = (
                        await session.execute(
                            select(func.count())
                            .select_from(OutboxMessage)
                            .where(OutboxMessage.status != "sent")
                        )
                    ).scalar_one()
                if unsent == 0:
                    break
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await application.shutdown()
            delivered = [(m.chat_id, m.text or "") for m in api.sent]
            accepted_at = list(api.accepted_at)
            refused = dict(api.refused)
            early_by = list(api.early_by)
        await services.db.dispose()

    elapsed = (accepted_at[-1] - started) if accepted_at else float("nan")
    rate = len(delivered) / elapsed if accepted_at else 0.0
    # the busiest one-second window as the stand-in saw it
    busiest, left = 0, 0
    for right, t in enumerate(accepted_at):
        while accepted_at[left] <= t - 1.0:
            left += 1
        busiest = max(busiest, right - left + 1)

    texts = Counter(text for _, text in delivered)
    missing = [text for _, text in queued if texts[text] == 0]
    doubled = [text for text, n in texts.items() if n > 1]
    expected_order: dict[int, list[str]] = defaultdict(list)
    for chat, text in queued:
        expected_order[chat].append(text)
    got_order: dict[int, list[str]] = defaultdict(list)
    for chat, text in delivered:
        got_order[chat].append(text)
    out_of_order = [chat for chat in expected_order if got_order[chat] != expected_order[chat]]
    too_many_429 = sum(refused.values())

    bl.print_table(
        ["figure", "value"],
        [
            ["messages queued", count],
            ["messages delivered", len(delivered)],
            ["time to last delivery, s", f"{elapsed:.1f}"],
            ["messages/s", f"{rate:.1f}"],
            ["busiest 1-s window at the server", busiest],
            ["429s received", too_many_429],
            *[[f"  429 for {which}", n] for which, n in sorted(refused.items())],
            *(
                [
                    [
                        "  429: arrived early by, ms (p50 / max)",
                        f"{bl.ms(bl.percentile(early_by, 50))} / {bl.ms(max(early_by))}",
                    ]
                ]
                if early_by
                else []
            ),
            ["throttle: chat deferrals (RetryLater)", throttle.chat_deferrals],
            [
                "throttle: overall waits / seconds slept",
                f"{throttle.overall_waits} / {throttle.overall_waited:.1f}",
            ],
            ["missing", len(missing)],
            ["delivered twice or more", len(doubled)],
            ["chats out of order", len(out_of_order)],
            ["rows not marked sent", unsent],
        ],
    )
    print()
    intact = not missing and not doubled and not out_of_order and unsent == 0
    print(f"{'OK' if intact else 'BROKEN'}: every queued text delivered exactly once, in order per chat")
    reasons = []
    if too_many_429:
        reasons.append(f"{too_many_429} sends refused with 429")
    if rate < GOAL_RATE:
        reasons.append(f"{rate:.1f} messages/s")
    bl.verdict(
        too_many_429 == 0 and rate >= GOAL_RATE and intact, GOAL, "; ".join(reasons) or f"{rate:.1f}/s"
    )


if __name__ == "__main__":
    asyncio.run(main())
