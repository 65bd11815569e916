"""The integrity test against a real S3 server (SeaweedFS: it checks Content-MD5 and checksums as S3 does).

For every edge size around the multipart threshold: the ETag the upload returned, the HEAD afterwards and
the stored bytes (downloaded and hashed) all agree with the local file; with SHA-256 on, the stored
checksum too. A body corrupted on the way is refused by the server (BadDigest), re-sent, and lands intact.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from core.contract import FileKind, UploadJob
from journal.files import Journal, State
from tests.support.stack import Stack
from uploader.checksums import multipart_etag
from uploader.deliver import Delivery, Outcome, deliver
from uploader.errors import IntegrityError
from uploader.parts import MIB, choose_part_size, plan_parts, uses_multipart
from uploader.s3client import make_s3_client
from uploader.transfer import Target

THRESHOLD = 5 * MIB  # the smallest the settings allow, so "several parts" stays small
PART = 5 * MIB
SIZES = [0, 1, THRESHOLD - 1, THRESHOLD, THRESHOLD + 1, 3 * PART + 17]


def delivery(stack: Stack, sha256: bool) -> Delivery:
    return Delivery(
        client=make_s3_client(stack.settings().s3),
        journal=stack.journal(),
        spool_dir=stack.spool,
        target=Target(stack.bucket, sha256),
        multipart_threshold=THRESHOLD,
        part_size=PART,
    )


def spooled(stack: Stack, name: str, size: int) -> tuple[UploadJob, bytes]:
    block = hashlib.sha256(name.encode()).digest()
    data = (block * (size // len(block) + 1))[:size]
    (stack.spool / name).write_bytes(data)
    job = UploadJob(path=name, key=f"live/{name}", size=size, md5=hashlib.md5(data).hexdigest(), kind=FileKind.OTHER)
    return job, data


def expected_etag(data: bytes) -> str:
    if not uses_multipart(len(data), THRESHOLD):
        return hashlib.md5(data).hexdigest()
    part = choose_part_size(len(data), PART)
    return multipart_etag(
        [hashlib.md5(data[p.offset : p.offset + p.size]).digest() for p in plan_parts(len(data), part)]
    )


@pytest.mark.parametrize("sha256", [False, True], ids=["md5", "sha256"])
@pytest.mark.parametrize("size", SIZES)
def test_returned_etag_head_and_stored_bytes_agree_at_every_edge_size(stack: Stack, size: int, sha256: bool) -> None:
    ctx = delivery(stack, sha256)
    job, data = spooled(stack, f"edge-{size}-{int(sha256)}.bin", size)
    ctx.journal.record(job)
    assert deliver(job, ctx) == Outcome.UPLOADED
    etag = expected_etag(data)
    head = stack.s3.head_object(Bucket=stack.bucket, Key=job.key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"') == etag
    assert head["Metadata"]["md5"] == job.md5
    stored = stack.s3.get_object(Bucket=stack.bucket, Key=job.key)["Body"].read()
    assert hashlib.md5(stored).hexdigest() == job.md5
    if sha256:
        if uses_multipart(size, THRESHOLD):
            part = choose_part_size(size, PART)
            digests = [hashlib.sha256(data[p.offset : p.offset + p.size]).digest() for p in plan_parts(size, part)]
            want = base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode()
        else:
            want = base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert head["ChecksumSHA256"].split("-")[0] == want
    row = ctx.journal.get(job.key)
    assert row is not None and row.state == State.VERIFIED


@pytest.mark.parametrize("size", [1 * MIB, 2 * PART + 3], ids=["single", "multipart"])
def test_a_body_corrupted_on_the_way_is_refused_then_resent_intact(stack: Stack, size: int) -> None:
    ctx = delivery(stack, sha256=False)
    job, data = spooled(stack, f"flip-{size}.bin", size)
    ctx.journal.record(job)
    stack.proxy.set_mode("flip", count=1, offset=1000)
    with pytest.raises(IntegrityError, match="BadDigest"):
        deliver(job, ctx)
    assert stack.proxy.faults_injected == 1
    assert deliver(job, ctx) == Outcome.UPLOADED
    stored = stack.s3.get_object(Bucket=stack.bucket, Key=job.key)["Body"].read()
    assert stored == data
    row = ctx.journal.get(job.key)
    assert row is not None and row.integrity_reuploads == 1 and row.state == State.VERIFIED


def test_rclone_serve_s3_multipart_objects_verify_although_its_head_reports_the_whole_md5(
    tmp_path: Path,
) -> None:
    """rclone serve s3 answers HEAD of a multipart object with the whole object's MD5 (not MD5-of-MD5s-N):
    the integrity test accepts that, and only that (tests/integration/test_s3_servers.py measures it)."""
    from tests.integration.test_s3_servers import start_rclone

    server = start_rclone(tmp_path)
    try:
        client = server.client()
        client.create_bucket(Bucket="rclone-bucket")
        spool = tmp_path / "spool"
        spool.mkdir()
        journal = Journal(spool)
        ctx = Delivery(
            client=client,
            journal=journal,
            spool_dir=spool,
            target=Target("rclone-bucket", False),
            multipart_threshold=THRESHOLD,
            part_size=PART,
        )
        for size in (1000, 2 * PART + 5):
            data = (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]
            name = f"r{size}.bin"
            (spool / name).write_bytes(data)
            job = UploadJob(path=name, key=f"live/{name}", size=size, md5=hashlib.md5(data).hexdigest())
            journal.record(job)
            assert deliver(job, ctx) == Outcome.UPLOADED
            assert client.get_object(Bucket="rclone-bucket", Key=job.key)["Body"].read() == data
    finally:
        server.stop()
