"""`damrongtham serve` replicas, each a process of its own, on one database (issue 18): started
as an operator starts them, told apart by their ports, killed as a machine dies."""

from __future__ import annotations

import asyncio
import inspect
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sqlalchemy import text

from bot.outbox.election import SENDER_SPACE
from storage.db import Database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(
    env: dict[str, str], cwd: Path, *options: str, log: Path | None = None
) -> tuple[asyncio.subprocess.Process, int]:
    """One `serve` replica, returned once its health check answers 200."""
    port = free_port()
    out = log.open("ab") if log is not None else asyncio.subprocess.DEVNULL
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", *options, "--host", "127.0.0.1",
            "--port", str(port), "--metrics-port", "0", env=env, cwd=cwd, stdout=out, stderr=out,
        )  # fmt: skip
    finally:
        if not isinstance(out, int):
            out.close()  # the child keeps its own copy
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.returncode is not None:
                raise AssertionError(f"the replica exited with {proc.returncode} at start-up")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    if answer.status == 200:
                        return proc, port
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("the replica did not become healthy within 60 s")


async def wait_until(
    check: Callable[[], bool | Awaitable[bool]], *, within: float, every: float = 0.1
) -> None:
    """Until `check()` holds (it may be a coroutine function); fails after `within` seconds."""
    for _ in range(max(1, int(within / every))):
        done = check()
        if await done if inspect.isawaitable(done) else done:
            return
        await asyncio.sleep(every)
    raise AssertionError(f"not so within {within} s")


@dataclass
class Replicas:
    """The replicas started, in order; stopped (or killed) together at the end."""

    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    async def start(self, env: dict[str, str], cwd: Path, *options: str, log: Path | None = None) -> int:
        """Another replica; its index."""
        proc, port = await serve(env, cwd, *options, log=log)
        self.processes.append(proc)
        self.ports.append(port)
        return len(self.processes) - 1

    async def kill(self, index: int) -> None:
        """SIGKILL: nothing of the process runs after it, as when its machine dies."""
        proc = self.processes[index]
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def stop(self) -> None:
        for proc in self.processes:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def sender_elected(url: str) -> bool:
    """Whether a replica on the database at `url` has won a channel's sending election."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            found = await conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :space"),
                {"space": SENDER_SPACE},
            )
            return bool(found.scalar())
    finally:
        await db.dispose()
