"""Real PostgreSQL and Redis servers for the tests, started from the machine's installed binaries.

Each server runs in its own temporary directory on a free loopback port, with a password (a canary: tests
check it never reaches a log, report or error), and is stopped (and its directory removed) afterwards. No
mock and no fake: the backends under test talk to the same servers a user deploys.

Why not pytest-postgresql: it runs `initdb` and `pg_ctl` as the current user, and PostgreSQL refuses to run
as root, which is how CI and these machines run the suite. Here, as root, the server's commands run as the
`postgres` system user that Debian's package creates (`runuser`), in a directory that user owns.

Where the binaries are missing the tests that need them skip and say how to install them; under `CI=true`
they fail instead (`require`), so CI can never pass without having run them. `.ci/run` installs Debian's
`postgresql` and `redis-server` when they are missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest

INSTALL_HINT = "install Debian's packages: apt-get install -y postgresql redis-server (.ci/run does this)"


def require(what: str) -> None:
    """A server the test needs cannot run here: skip, or fail under `CI=true`."""
    message = f"{what}; {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the server tests, but {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin_dir() -> Path | None:
    """The folder of `pg_ctl` and `initdb`: PATH first, then Debian's versioned folders (newest first)."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]), reverse=True)
    return Path(found[0]).parent if found else None


def redis_server_binary() -> Path | None:
    found = shutil.which("redis-server")
    return Path(found) if found else None


def _wait_for_port(port: int, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening on port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout_s} s")


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory; `url` connects as its superuser with a password."""

    USER = "pinaudience"

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.password = f"canary-pg-{secrets.token_hex(8)}"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pinaudience-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run its commands as Debian's `postgres` user.
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no `postgres` user to run PostgreSQL as") from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        self._run(
            str(bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.USER,
            "--pwfile",
            str(pwfile),
            "--auth",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )
        pwfile.unlink()

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr[-2000:]}")

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"postgresql://{self.USER}:{secret}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        _wait_for_port(self.port, 30)

    def stop(self, mode: str = "fast") -> None:
        """`fast` (a clean shutdown) or `immediate` (an abrupt one, as a crash: clients lose their sessions)."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """One redis-server in a temporary directory, with no persistence and a password."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.password = f"canary-redis-{secrets.token_hex(8)}"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pinaudience-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0, *, password: str | None = None) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"redis://:{secret}@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        # `--save ""` and no AOF: the tests' budgets need no persistence, and a stop is a clean loss of state.
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.root),
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                self.password,
                "--logfile",
                str(self.root / "server.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, 15, self.process)

    def stop(self, *, abrupt: bool = False) -> None:
        """Stop the server: SIGTERM, or SIGKILL when `abrupt` (as a crash)."""
        if self.process is None or self.process.poll() is not None:
            return
        if abrupt:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(timeout=15)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def close(self) -> None:
        self.stop(abrupt=True)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """A started PostgreSQL server (skips, or fails under CI, when the binaries are missing)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        require("PostgreSQL's server binaries (pg_ctl, initdb) are not installed")
        raise AssertionError("unreachable")
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


def start_redis() -> RedisServer:
    """A started Redis server (skips, or fails under CI, when redis-server is missing)."""
    binary = redis_server_binary()
    if binary is None:
        require("redis-server is not installed")
        raise AssertionError("unreachable")
    server = RedisServer(binary)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server
