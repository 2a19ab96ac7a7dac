"""Telegram's sending limits, kept on our side so the platform never has to refuse us.

About 30 messages a second in all, one a second to a private chat (Telegram allows short bursts:
we allow three in three seconds), 20 a minute to a group. A chat over its limit is deferred by the
outbox (other chats go on); the overall limit is waited out. An answer to a person's own action in
their private chat is not held by that chat's window (`TelegramSender.send`), only counted in it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

PRUNE_EVERY = 60.0  # seconds between sweeps of idle chat windows


class Window:
    """At most `limit` events in any `seconds`-long window, counting those under way."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.events: deque[float] = deque()
        # begun and not yet recorded: sends go out side by side, and each one under way takes a
        # place in the window from the moment it is decided, as Telegram sees it arrive before we
        # see its answer
        self.pending = 0

    def wait(self, now: float) -> float:
        while self.events and self.events[0] <= now - self.seconds:
            self.events.popleft()
        if len(self.events) + self.pending < self.limit:
            return 0.0
        # the first place to free is the oldest recorded event's; one under way frees later still
        return self.events[0] + self.seconds - now if self.events else self.seconds

    def record(self, now: float) -> None:
        self.events.append(now)

    def idle(self, now: float) -> bool:
        """Nothing left in the window: a new Window would behave the same."""
        return not self.events or self.events[-1] <= now - self.seconds


class Throttle:
    def __init__(
        self,
        *,
        overall: tuple[int, float] = (30, 1.0),
        private: tuple[int, float] = (3, 3.0),
        group: tuple[int, float] = (20, 60.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.overall = Window(*overall)
        self.private, self.group = private, group
        self.chats: dict[str, Window] = {}
        self.clock = clock
        self._pruned_at = clock()

    def _chat(self, chat_id: str) -> Window:
        if chat_id not in self.chats:
            # Telegram's group and channel ids are negative
            self.chats[chat_id] = Window(*(self.group if chat_id.startswith("-") else self.private))
        return self.chats[chat_id]

    def chat_wait(self, chat_id: str) -> float:
        return self._chat(chat_id).wait(self.clock())

    def overall_wait(self) -> float:
        return self.overall.wait(self.clock())

    def begin(self, chat_id: str) -> None:
        """A send to `chat_id` is under way: it counts until `record` is called for it."""
        self._chat(chat_id).pending += 1
        self.overall.pending += 1

    def record(self, chat_id: str) -> None:
        now = self.clock()
        chat = self._chat(chat_id)
        chat.pending = max(0, chat.pending - 1)
        self.overall.pending = max(0, self.overall.pending - 1)
        chat.record(now)
        self.overall.record(now)
        if now - self._pruned_at >= PRUNE_EVERY:
            # every chat ever written to would otherwise keep a window for the life of the process
            self.chats = {key: window for key, window in self.chats.items() if not window.idle(now)}
            self._pruned_at = now
