"""Tracking codes hashed ahead of need, so pressing "submit" does not wait for scrypt.

A process serving citizens keeps spare codes ready (`keep_ready`: hashed, slowly by design, while
it has little else to do: again once the takes have paused, or at once when few are left), and
without such a pool a report started asks for one more, hashed while the citizen writes; one at a
time on a single worker thread that gives way to the event loop. A burst of reports (a campaign, a
poster at the market) then takes codes hashed before it rather than hashing its own meanwhile.
Spare codes live only in this process's memory until a submit takes one: nothing about them is
stored, and a restart merely loses them (a submit without a spare hashes its own code).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

from storage.crypto import hash_tracking_code, new_tracking_code

log = logging.getLogger(__name__)


def _task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    assert task is not None, "tracking codes are taken in a task"
    return task


def _yielding() -> None:
    """The spares' thread runs only on a core nothing else wants: its codes are work ahead of need,
    and at a mere lower priority (nice 10) it still took a tenth of a busy core, beside every
    other process of the server, through a whole burst of reports."""
    if sys.platform == "linux":  # there a thread's scheduling is its own; elsewhere, the process's
        try:
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
        except OSError:  # a system that refuses it: the lowest priority instead
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _new_pair() -> tuple[str, str]:
    code = new_tracking_code()
    return code, hash_tracking_code(code)


class TrackingCodes:
    def __init__(self, limit: int = 256, *, quiet: float = 2.0) -> None:
        # bounded, so pressing "report" over and over costs at most `limit` hashes of spare work
        self.limit = limit
        self.ahead = 0  # spares kept ready (keep_ready)
        self.quiet = quiet  # seconds without a take before the spares are hashed again
        self._later: asyncio.TimerHandle | None = None
        self._ready: list[tuple[str, str]] = []
        self._wanted = 0
        self._busy = False
        self._executor: ThreadPoolExecutor | None = None
        self._urgent: ThreadPoolExecutor | None = None  # for a take with none spare
        # by task, not by context (a task started meanwhile would copy a context's): a turn's two
        # runs (handlers/engine.py) happen in one task, other turns in others
        self._kept: WeakKeyDictionary[asyncio.Task[Any], tuple[str, str]] = WeakKeyDictionary()

    @property
    def ready(self) -> int:
        return len(self._ready)

    def keep_ready(self, count: int) -> None:
        """From now on, keep `count` spare codes ready (hashed now, and again after each take)."""
        self.ahead = count
        self.limit = max(self.limit, count)
        self._top_up()

    def _top_up(self) -> None:
        self._later = None
        missing = self.ahead - len(self._ready) - self._wanted
        if missing > 0:
            self._wanted += missing
            if not self._busy:
                self._next(asyncio.get_running_loop())

    def _top_up_when_quiet(self) -> None:
        """The standing spares hashed again once no code was taken for `quiet` seconds, or at once
        when fewer than a quarter are left. A burst of reports then takes codes with no hashing
        beside it: scrypt is memory-hard by design, and even on an otherwise idle core (the
        spares' thread) it slowed the rest of the server, whose caches it crowds out."""
        if self._later is not None:
            self._later.cancel()
        if len(self._ready) + self._wanted < self.ahead // 4:
            self._top_up()
        else:
            self._later = asyncio.get_running_loop().call_later(self.quiet, self._top_up)

    def prepare(self) -> None:
        """Ask for one more spare code (a report was started); returns at once."""
        if self.ahead:  # a standing pool covers it, topped up when the takes pause
            return
        if len(self._ready) + self._wanted >= self.limit:
            return
        self._wanted += 1
        if not self._busy:
            self._next(asyncio.get_running_loop())

    async def take(self) -> tuple[str, str]:
        """A new code and its slow hash: the one this task kept, a spare one, or hashed now."""
        kept = self._kept.pop(_task(), None)
        if kept is not None:
            return kept
        if self._ready:
            pair = self._ready.pop()
            if self.ahead:
                self._top_up_when_quiet()
            return pair
        # none spare, and a citizen waits: hashed on a thread of its own at the usual priority, one
        # at a time however many wait (scrypt takes a core at most), while spares go on beside
        if self._urgent is None:
            self._urgent = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracking-codes-now")
        return await asyncio.get_running_loop().run_in_executor(self._urgent, _new_pair)

    async def reserve(self) -> None:
        """Have this task's next `take` ready now: a turn that may submit calls it before it opens
        a session, so a code hashed on the spot (no spare ready) holds neither a database
        connection nor the writer meanwhile. Not used by the time the task ends, it is a spare."""
        if _task() not in self._kept:
            self.keep(*await self.take())

    def keep(self, code: str, tracking_hash: str) -> None:
        """A code taken but not used (never shown, never stored): this task's next `take` gets it,
        so a turn that runs again (a read-only try first, then as a whole) hashes only once."""
        task = _task()
        self._kept[task] = (code, tracking_hash)
        task.add_done_callback(self._unused)

    @contextmanager
    def kept_unless_used(self, code: str, tracking_hash: str) -> Iterator[None]:
        """The block uses the code; if it raises, the code is kept (`keep`)."""
        try:
            yield
        except BaseException:
            self.keep(code, tracking_hash)
            raise

    def _unused(self, task: asyncio.Task[Any]) -> None:
        kept = self._kept.pop(task, None)
        if kept is not None:
            self._ready.append(kept)

    def _next(self, loop: asyncio.AbstractEventLoop) -> None:
        # One hash in flight at a time, chained by callbacks rather than a task, so neither a
        # shutdown nor a closing event loop waits for (or warns about) a queue of them.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="tracking-codes", initializer=_yielding
            )
        self._busy = True
        loop.run_in_executor(self._executor, _new_pair).add_done_callback(
            lambda future: self._done(loop, future)
        )

    def _done(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[tuple[str, str]]) -> None:
        self._busy = False
        try:
            pair = future.result()
        except asyncio.CancelledError:
            return  # the event loop is shutting down
        except Exception:
            log.exception("could not prepare a tracking code; submits will hash their own")
            self._wanted = 0
            return
        self._wanted -= 1
        self._ready.append(pair)
        if self._wanted > 0 and not loop.is_closed():
            self._next(loop)
