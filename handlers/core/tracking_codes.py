"""Tracking codes hashed ahead of need, so pressing "submit" does not wait for scrypt.

A report takes a citizen minutes to write; its tracking code is hashed (slowly, by design) in the
background when they start it, one at a time on a single worker thread so the bot keeps the other
cores. Spare codes live only in this process's memory until a submit takes one: nothing about them
is stored, and a restart merely loses them (a submit without a spare hashes its own code).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from storage.crypto import hash_tracking_code, new_tracking_code

log = logging.getLogger(__name__)


def _new_pair() -> tuple[str, str]:
    code = new_tracking_code()
    return code, hash_tracking_code(code)


class TrackingCodes:
    def __init__(self, limit: int = 256) -> None:
        # bounded, so pressing "report" over and over costs at most `limit` hashes of spare work
        self.limit = limit
        self._ready: list[tuple[str, str]] = []
        self._wanted = 0
        self._busy = False
        self._executor: ThreadPoolExecutor | None = None

    @property
    def ready(self) -> int:
        return len(self._ready)

    def prepare(self) -> None:
        """Ask for one more spare code (a report was started); returns at once."""
        if len(self._ready) + self._wanted >= self.limit:
            return
        self._wanted += 1
        if not self._busy:
            self._next(asyncio.get_running_loop())

    async def take(self) -> tuple[str, str]:
        """A new code and its slow hash: a spare one if there is one, else hashed now."""
        if self._ready:
            return self._ready.pop()
        return await asyncio.to_thread(_new_pair)

    def _next(self, loop: asyncio.AbstractEventLoop) -> None:
        # One hash in flight at a time, chained by callbacks rather than a task, so neither a
        # shutdown nor a closing event loop waits for (or warns about) a queue of them.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracking-codes")
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
