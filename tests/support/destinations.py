"""A second destination for a test stack: a SeaweedFS server of its own, named ``b2`` in SURECAST_BACKUPS.

The primary stays the stack's server (behind the venue's fault proxy); viewers read both buckets directly
(public read and the players' CORS rule on each, as `surecast bucket-setup` leaves a bucket).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.bucket_setup import cors_rule
from tests.support.client_streams import public_read
from tests.support.seaweed import SeaweedServer
from tests.support.stack import Stack, direct_s3_client

BACKUP = "b2"
BACKUP_PREFIX = "bk"


@dataclass
class Backup:
    server: SeaweedServer
    bucket: str
    s3: Any

    def etag(self, key: str) -> str | None:
        try:
            return str(self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"]).strip('"')
        except self.s3.exceptions.ClientError:
            return None

    def text(self, key: str) -> str | None:
        try:
            return str(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode())
        except self.s3.exceptions.ClientError:
            return None


@contextmanager
def backup_destination(stack: Stack, tmp_path: Path) -> Iterator[Backup]:
    """Start the backup's server, name it in the stack's settings, stop it after."""
    server = SeaweedServer(tmp_path / "seaweed-b2")
    server.start()
    bucket = f"bk-{stack.bucket}"
    server.create_bucket(bucket)
    s3 = direct_s3_client(server.endpoint_url)
    for client, name in ((s3, bucket), (stack.s3, stack.bucket)):
        public_read(client, name)
        client.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [cors_rule([])]})
    section = {
        "name": BACKUP,
        "endpoint_url": server.endpoint_url,
        "bucket": bucket,
        "prefix": BACKUP_PREFIX,
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "public_url": f"{server.endpoint_url}/{bucket}",
    }
    stack.env["SURECAST_BACKUPS"] = json.dumps([section])
    stack.env["SURECAST_S3_PUBLIC_URL"] = f"{stack.s3_server.endpoint_url}/{stack.bucket}"  # not the venue's link
    try:
        yield Backup(server, bucket, s3)
    finally:
        server.stop()
