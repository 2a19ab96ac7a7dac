"""A PostgreSQL server of a test's own, so the test may stop and restart it without harming anyone.

The binaries come from /usr/lib/postgresql/*/bin (or PG_BIN). initdb and postgres refuse to run as
root, so under root they run as the `postgres` OS user. The data folder (also the socket folder)
is a fresh temporary folder, removed again by `destroy()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.replicas import free_port

_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def postgres_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres (the newest installed version), if any."""
    candidates = [os.environ["PG_BIN"]] if os.environ.get("PG_BIN") else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(str(Path(which).parent))
    for folder in candidates:
        path = Path(folder)
        if all((path / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return path
    return None


def _version(bin_dir: str) -> tuple[int, ...]:
    name = Path(bin_dir).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


class PrivatePostgres:
    """initdb → start → (stop / start / restart as often as wanted) → destroy."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dt-private-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        if _AS_ROOT:
            shutil.chown(self.root, user="postgres", group="postgres")
            self.root.chmod(0o700)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if _AS_ROOT:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{self.server_log()}"
            )

    def server_log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-4000:]
        return ""

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync",
            "--encoding=UTF8", "--locale=C",
        )  # fmt: skip

    def _options(self) -> str:
        return (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )

    def start(self) -> None:
        # with a log file, so the server does not hold our pipes open (subprocess.run would wait)
        self._run(
            "pg_ctl", "start", "-w", "-t", "30", "-D", str(self.data), "-l", str(self.log),
            "-o", self._options(),
        )  # fmt: skip

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: sessions ended, the server down for a moment and up again."""
        self._run(
            "pg_ctl", "restart", "-w", "-t", "30", "-m", "fast", "-D", str(self.data), "-l", str(self.log),
            "-o", self._options(),
        )  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: open sessions are ended, as when an administrator restarts the server."""
        self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", "fast", "-D", str(self.data))

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        """Stop the server (whatever state the test left it in) and remove every file of it."""
        with contextlib.suppress(Exception):
            if self.running():
                self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", "immediate", "-D", str(self.data))
        with contextlib.suppress(Exception):
            if self.running():  # pg_ctl could not stop it: end the postmaster itself, by its pid
                os.kill(int((self.data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    # the same from inside an event loop (the bot under test keeps running meanwhile)
    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def arestart(self) -> None:
        await asyncio.to_thread(self.restart)


def private_postgres_or_skip() -> PrivatePostgres:
    """A started private server; skipped (with the reason) only when no binaries are installed."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin")
    if _AS_ROOT:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            message = "running as root, and no `postgres` OS user to run the PostgreSQL server as"
            if os.environ.get("CI") == "true":
                pytest.fail(message + "; under CI=true PostgreSQL tests are required")
            pytest.skip(message)
    server = PrivatePostgres(bin_dir)
    try:
        server.init()
        server.start()
    except BaseException:
        server.destroy()
        raise  # binaries present: a server that does not start is a failure, never a skip
    return server
