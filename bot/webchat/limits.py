"""Rate limits for the web chat and the tracking page, kept in this process's memory only.

An address is a key here and nowhere else: it is never written to the database or a log, and it is
forgotten once its window has passed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Window:
    """At most `limit` events per `seconds` for each key (a sliding window)."""

    limit: int
    seconds: float
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _swept: float = 0.0

    def allow(self, key: str) -> bool:
        now = self.clock()
        self._sweep(now)
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now - self.seconds:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True

    def _sweep(self, now: float) -> None:
        """Keys whose every event is past the window are dropped, once a window at most."""
        if now - self._swept < self.seconds:
            return
        self._swept = now
        stale = [k for k, times in self._seen.items() if not times or times[-1] <= now - self.seconds]
        for key in stale:
            del self._seen[key]


@dataclass
class WebLimits:
    """What one conversation and one address may do: generous for a person typing, not for a script.
    An address may be many people (a mobile carrier puts thousands behind one), so its limits are
    ten times a person's; a script that floods is stopped by its conversation's first."""

    per_conversation: Window = field(default_factory=lambda: Window(30, 60.0))
    per_address: Window = field(default_factory=lambda: Window(300, 60.0))
    # new conversations an address may start in an hour (each is a cookie, a daily report limit)
    new_per_address: Window = field(default_factory=lambda: Window(60, 3600.0))
    # reference and code checks on the tracking page, before the codes' own growing delay
    track_per_address: Window = field(default_factory=lambda: Window(20, 600.0))
