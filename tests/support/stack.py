"""A real stack on loopback for integration tests: Redis with AOF, an S3 server behind a fault proxy,
real `surecast worker` processes. ``tests/conftest.py`` makes one per test as the ``stack`` fixture.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from core.settings import Settings
from journal.files import Journal
from tests.support.faultproxy import FaultProxy
from tests.support.procs import (
    S3_ENV,
    RedisServer,
    S3Server,
    free_port,
    log_tail,
    spawn,
    terminate,
    wait_until,
    worker_child_role,
)
from tests.support.seaweed import SeaweedServer

BIN = Path(sys.executable).parent

# Short limits so faults resolve within a test's time; everything else as in production.
TEST_ENV = {
    "SURECAST_S3_CONNECT_TIMEOUT": "2",
    "SURECAST_S3_READ_TIMEOUT": "5",
    "SURECAST_S3_MULTIPART_THRESHOLD": str(8 * 1024 * 1024),
    "SURECAST_S3_PART_SIZE": str(5 * 1024 * 1024),
    "SURECAST_UPLOAD_BACKOFF_BASE": "0.2",
    "SURECAST_UPLOAD_BACKOFF_CAP": "2",
    "SURECAST_UPLOAD_SOFT_TIME_LIMIT": "20",
    "SURECAST_UPLOAD_TIME_LIMIT": "25",
    "SURECAST_UPLOAD_RECONCILE_AFTER": "5",
}


def direct_s3_client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )


@dataclass
class Stack:
    tmp: Path
    redis: RedisServer
    s3_server: SeaweedServer | S3Server
    proxy: FaultProxy
    bucket: str
    spool: Path
    env: dict[str, str]
    s3: Any
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def settings(self) -> Settings:
        """Settings as a process started with ``self.env`` would load them."""
        saved = dict(os.environ)
        try:
            os.environ.update(self.env)
            return Settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def journal(self, destination: str = "primary") -> Journal:
        return Journal(self.spool, destination=destination)

    def start_worker(
        self,
        concurrency: int = 2,
        extra_env: dict[str, str] | None = None,
        wait: bool = True,
        plain_celery: bool = False,
        destination: str | None = None,
    ) -> subprocess.Popen[bytes]:
        """A real `surecast worker` process (or plain `celery -A uploader worker`) reading this stack's spool;
        for one ``destination`` only if named (else one per destination when there are backups)."""
        n = len(self.workers)
        log = self.tmp / f"worker{n}.log"
        name = f"w{n}-{uuid.uuid4().hex[:6]}@test"
        if plain_celery:
            cmd = [
                str(BIN / "celery"),
                "-A",
                "uploader",
                "worker",
                "-l",
                "INFO",
                "-Q",
                "surecast",
                "-c",
                str(concurrency),
                "-n",
                name,
            ]
        else:
            cmd = [str(BIN / "surecast"), "worker", "-c", str(concurrency), "-n", name]
            if destination:
                cmd += ["--destination", destination]
        proc = spawn(cmd, {**self.env, **(extra_env or {})}, log, cwd=self.tmp)
        self.workers.append(proc)
        if wait:
            wait_until(
                lambda: (
                    log.read_text(errors="replace").count("ready.") >= self._nodes(destination)
                    or proc.poll() is not None
                ),
                60,
                message=f"worker {n} did not start",
            )
            assert proc.poll() is None, log_tail(log)
        return proc

    def _nodes(self, destination: str | None) -> int:
        """Celery nodes one `surecast worker` starts: one per destination unless it serves one."""
        if destination:
            return 1
        return 1 + self._backups()

    def _backups(self) -> int:
        raw = self.env.get("SURECAST_BACKUPS", "")
        return len(json.loads(raw)) if raw.strip() else 0

    def worker_log(self, n: int = 0) -> str:
        return (self.tmp / f"worker{n}.log").read_text(errors="replace")

    def run_cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "surecast"), *args],
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def spool_file(self, name: str, size: int, seed: int = 0) -> Path:
        """A file of pseudo-random bytes outside the spool, to hand to `surecast send`."""
        path = self.tmp / "outside" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        block = hashlib.sha256(f"{name}{seed}".encode()).digest() * 32768  # 1 MiB
        with path.open("wb") as f:
            remaining = size
            while remaining > 0:
                f.write(block[: min(remaining, len(block))])
                remaining -= len(block)
        return path

    def stored_etag(self, key: str) -> str | None:
        try:
            return str(self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"]).strip('"')
        except self.s3.exceptions.ClientError:
            return None

    def child_pids(self, worker: subprocess.Popen[bytes]) -> list[int]:
        """Pool child processes of a worker (the prefork pool), not its reconciler process."""
        import psutil

        children = psutil.Process(worker.pid).children(recursive=True)
        return [c.pid for c in children if worker_child_role(c.cmdline()) == "pool child"]

    def stop(self) -> None:
        for proc in self.workers:
            terminate(proc, timeout=3)


_HANDLED = re.compile(r"delivered (\S+) bytes=|(\S+) already stored intact")


def delivered_keys(text: str) -> list[str]:
    """Keys a worker log shows as delivered, or found already stored intact on a later attempt."""
    return [a or b for a, b in _HANDLED.findall(text)]


@contextmanager
def running_stack(tmp_path: Path, s3_server: SeaweedServer | S3Server) -> Iterator[Stack]:
    """Redis with AOF, a bucket, a spool and a fault proxy in front of ``s3_server``; stopped after."""
    redis = RedisServer()
    redis.start(free_port(), tmp_path / "redis", aof=True)
    proxy = FaultProxy(s3_server.port)
    proxy.start()
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3 = direct_s3_client(s3_server.endpoint_url)
    s3.create_bucket(Bucket=bucket)
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SURECAST_")},
        **S3_ENV,
        **TEST_ENV,
        "SURECAST_REDIS_URL": redis.url,
        "SURECAST_S3_BUCKET": bucket,
        "SURECAST_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
        "SURECAST_S3_PREFIX": "live",
        "SURECAST_SPOOL_DIR": str(spool),
        # Credentials through settings as well as AWS_* (in-process clients see only the settings).
        "SURECAST_S3_ACCESS_KEY_ID": "testing",
        "SURECAST_S3_SECRET_ACCESS_KEY": "testing",
    }
    st = Stack(tmp_path, redis, s3_server, proxy, bucket, spool, env, s3)
    try:
        yield st
    finally:
        st.stop()
        proxy.stop()
        redis.stop()
