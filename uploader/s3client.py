"""The boto3 S3 client, configured once from settings.

Checksum behaviour is pinned (``request_checksum_calculation`` / ``response_checksum_validation``) so
that an SDK upgrade cannot start sending trailers that S3-compatible servers reject or store.
botocore's own retries are kept short: our task retries, with backoff and the journal, own the long game.

No ``Expect: 100-continue``: botocore sends it with every PUT and UploadPart and then holds the body back
until the server answers, for one round trip on a venue uplink, and for a whole second when a server
(SeaweedFS, busy) does not answer it at all. A refused request now costs its body's bytes, once.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Final

import boto3
import botocore.session
from botocore.config import Config
from botocore.handlers import add_expect_header

from core.s3_section import S3Section
from uploader.pacing import UploadRate, read_timeout_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


# boto3 >= 1.36 adds CRC32 trailers to every PUT by default, which several S3-compatible servers reject or
# store inside the object; our integrity test is Content-MD5 and the ETag (and SHA256 where asked).
CHECKSUMS: Final = "when_required"
_loaders: dict[int, Any] = {}
_making = threading.Lock()  # clients are made one at a time: botocore's sessions and loader are not thread-safe


def _session() -> boto3.session.Session:
    """A new session (credentials resolved afresh, as by boto3's default) sharing this process's data loader:
    the S3 model parsed once makes every further client cheap (~18 ms of CPU instead of ~120 ms)."""
    botocore_session = botocore.session.get_session()
    loader = _loaders.get(os.getpid())  # none survives a fork
    if loader is None:
        loader = _loaders[os.getpid()] = botocore_session.get_component("data_loader")
    botocore_session.register_component("data_loader", loader)
    return boto3.session.Session(botocore_session=botocore_session)


def make_s3_client(
    s3: S3Section, max_pool: int = 10, attempts: int = 2, timeouts: tuple[float, float] | None = None
) -> S3Client:
    """A client for the destination; ``timeouts`` (connect, read) override the settings' for quick probes."""
    connect_timeout, read_timeout = timeouts or (s3.connect_timeout, s3.read_timeout)
    config = Config(
        region_name=s3.region,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": attempts},
        max_pool_connections=max_pool,
        request_checksum_calculation=CHECKSUMS,
        response_checksum_validation=CHECKSUMS,
        s3={"addressing_style": s3.addressing_style},
        tcp_keepalive=True,
    )
    kwargs: dict[str, Any] = {"config": config}
    if s3.endpoint_url:
        kwargs["endpoint_url"] = s3.endpoint_url
    if s3.access_key_id and s3.secret_access_key:
        kwargs["aws_access_key_id"] = s3.access_key_id.get_secret_value()
        kwargs["aws_secret_access_key"] = s3.secret_access_key.get_secret_value()
    with _making:
        client: S3Client = _session().client("s3", **kwargs)
    client.meta.events.unregister("before-call.s3", add_expect_header)
    return client


class ClientPool:
    """One S3 client per read-timeout step, chosen by the size of the request and the measured rate."""

    def __init__(self, s3: S3Section, max_pool: int = 10) -> None:
        self.s3 = s3
        self.max_pool = max_pool
        self.rate = UploadRate()
        self._clients: dict[float, S3Client] = {}

    def default(self) -> S3Client:
        return self.for_size(0)

    def for_size(self, nbytes: int) -> S3Client:
        timeout = read_timeout_for(nbytes, self.rate.bytes_per_second, self.s3.read_timeout)
        client = self._clients.get(timeout)
        if client is None:
            client = make_s3_client(self.s3, self.max_pool, timeouts=(self.s3.connect_timeout, timeout))
            self._clients[timeout] = client
        return client
