"""Send one spool file to S3 (single PUT or resumable multipart) and verify what landed.

Every call to S3 runs inside ``s3_errors(key)``, the one place botocore errors become ours. Nothing here
writes the journal: a multipart upload reports its progress to callbacks (``Multipart``), and the caller
(``uploader.deliver``) journals it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from core.contract import MD5_METADATA, UploadJob
from uploader import checksums
from uploader.digest import FileDigest
from uploader.errors import IntegrityError, LocalFileError, PermanentError, UploadVanished, s3_errors
from uploader.parts import plan_parts

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where files go and how: the parts of the settings a transfer needs."""

    bucket: str
    sha256: bool  # also store and verify an S3 SHA-256 checksum


@dataclass(frozen=True)
class Expected:
    """What the stored object must look like: size, ETag, and the SHA-256 checksum where one is kept."""

    size: int
    etag: str
    sha256: str | None
    md5: str = ""  # of the whole object: what some servers (rclone) report as a multipart object's ETag

    @classmethod
    def of(cls, job: UploadJob, digest: FileDigest) -> Expected:
        if digest.part_md5s:
            etag = checksums.multipart_etag(digest.part_md5s)
            sha = checksums.composite_sha256(digest.part_sha256s) if digest.part_sha256s else None
        else:
            etag = digest.md5
            sha = checksums.sha256_b64(digest.sha256) if digest.sha256 else None
        return cls(job.size, etag, sha, digest.md5)


@dataclass(frozen=True)
class Multipart:
    """A multipart upload's bookkeeping, kept by the caller: the upload journaled earlier (resumed if S3
    still holds it with the same part size), and what to call when a new upload starts and as each part
    lands, so that an interrupted upload resumes where it stopped."""

    upload_id: str | None
    part_size: int | None
    on_upload_started: Callable[[str, int], None]  # (upload id, part size)
    on_part: Callable[[str, int, str, int], None]  # (upload id, part number, ETag, bytes)


@dataclass(frozen=True)
class Landed:
    """What an upload call reports: the ETag S3 returned, what the object must match, and bytes sent."""

    etag: str
    expected: Expected
    sent: int


def _headers(job: UploadJob) -> dict[str, Any]:
    return {"ContentType": job.content_type, "CacheControl": job.cache_control, "Metadata": {MD5_METADATA: job.md5}}


def put_single(client: S3Client, target: Target, job: UploadJob, path: Path, sha256: bytes | None) -> Landed:
    """Upload ``path`` with one PUT carrying the journaled MD5 as Content-MD5.

    The file is read once, by the upload itself: S3 (not moto) refuses a body that does not match
    Content-MD5, and the returned ETag is compared with it by the caller.
    """
    extra: dict[str, Any] = _headers(job)
    if sha256:
        # Our own value goes as a header (never an aws-chunked trailer); the algorithm name makes
        # every server store it.
        extra["ChecksumSHA256"] = checksums.sha256_b64(sha256)
        extra["ChecksumAlgorithm"] = "SHA256"
    with s3_errors(job.key), path.open("rb") as body:
        resp = client.put_object(
            Bucket=target.bucket,
            Key=job.key,
            Body=body,
            ContentLength=job.size,
            ContentMD5=checksums.content_md5(job.md5),
            **extra,
        )
    sha = checksums.sha256_b64(sha256) if sha256 else None
    return Landed(checksums.strip_etag(resp.get("ETag", "")), Expected(job.size, job.md5, sha), job.size)


def put_multipart(
    client: S3Client, target: Target, job: UploadJob, path: Path, part_size: int, progress: Multipart
) -> Landed:
    """Upload ``path`` in parts, resuming ``progress``'s upload; each part is hashed as it is read.

    Parts already in S3 with the right MD5 (per ListParts) are read and hashed but not sent again.
    Raises LocalFileError before completing if the file no longer hashes to the journaled MD5, and
    UploadVanished if the upload is gone when it is completed.
    """
    key = job.key
    upload_id, present = resume_or_create(client, target, job, part_size, progress)
    sent = 0
    whole = hashlib.md5()
    part_md5s: list[bytes] = []
    part_shas: list[bytes] = []
    completed: list[dict[str, Any]] = []
    with path.open("rb") as f:
        for part in plan_parts(job.size, part_size):
            body = f.read(part.size)
            whole.update(body)
            md5 = hashlib.md5(body).digest()
            part_md5s.append(md5)
            sha = None
            if target.sha256:
                part_shas.append(hashlib.sha256(body).digest())
                sha = checksums.sha256_b64(part_shas[-1])
            completed.append(completed_part(part.number, md5, sha))
            if present.get(part.number) == md5.hex():
                continue
            returned = put_part(client, target, key, upload_id, part.number, body, md5, sha)
            sent += part.size
            progress.on_part(upload_id, part.number, returned, part.size)
    if whole.hexdigest() != job.md5:
        raise LocalFileError(f"{key}: spool file {job.path} changed since it was journaled (MD5 differs)")
    return complete_multipart(client, target, job, upload_id, completed, part_md5s, part_shas, sent)


@contextmanager
def _vanished_as(message: str) -> Iterator[None]:
    """S3's NoSuchUpload, the multipart upload gone, raised as UploadVanished(``message``)."""
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise
        raise UploadVanished(message) from exc


def put_part(
    client: S3Client, target: Target, key: str, upload_id: str, number: int, body: bytes, md5: bytes, sha256: str | None
) -> str:
    """Send one part with its Content-MD5 (and SHA-256 where kept); return the ETag S3 gave it. Raises
    IntegrityError if that ETag is an MD5 other than the part's, UploadVanished if the upload is gone."""
    extra: dict[str, Any] = {"ChecksumSHA256": sha256, "ChecksumAlgorithm": "SHA256"} if sha256 else {}
    with s3_errors(key), _vanished_as(f"{key}: multipart upload {upload_id} vanished before part {number}"):
        resp = client.upload_part(
            Bucket=target.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ContentMD5=base64.b64encode(md5).decode(),
            **extra,
        )
    returned = checksums.strip_etag(resp["ETag"])
    if checksums.etag_is_md5(returned, resp.get("ServerSideEncryption")) and returned != md5.hex():
        raise IntegrityError(f"{key}: part {number} landed with ETag {returned}, sent {md5.hex()}")
    return returned


def complete_multipart(
    client: S3Client,
    target: Target,
    job: UploadJob,
    upload_id: str,
    completed: list[dict[str, Any]],
    part_md5s: list[bytes],
    part_shas: list[bytes],
    sent: int,
) -> Landed:
    """Complete an upload from its parts (in order) and say what the whole object must match."""
    key = job.key
    # Gone: completed by a twin delivery, or aborted; the next attempt checks the object or starts anew.
    with s3_errors(key), _vanished_as(f"{key}: multipart upload {upload_id} vanished before completion"):
        resp_c = client.complete_multipart_upload(
            Bucket=target.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": completed},  # type: ignore[typeddict-item]
        )
    expected = Expected(
        job.size,
        checksums.multipart_etag(part_md5s),
        checksums.composite_sha256(part_shas) if part_shas else None,
        job.md5,
    )
    return Landed(checksums.strip_etag(resp_c.get("ETag", "")), expected, sent)


def completed_part(number: int, md5: bytes, sha256: str | None) -> dict[str, Any]:
    """A part as CompleteMultipartUpload lists it."""
    entry: dict[str, Any] = {"PartNumber": number, "ETag": f'"{md5.hex()}"'}
    if sha256:
        entry["ChecksumSHA256"] = sha256
    return entry


def resume_or_create(
    client: S3Client, target: Target, job: UploadJob, part_size: int, progress: Multipart
) -> tuple[str, dict[int, str]]:
    """The journaled upload and the parts S3 holds for it, or a new upload (reported at once)."""
    if progress.upload_id and progress.part_size == part_size:
        listed = _list_parts(client, target.bucket, job.key, progress.upload_id)
        if listed is not None:
            return progress.upload_id, listed
    extra: dict[str, Any] = _headers(job)
    if target.sha256:
        extra["ChecksumAlgorithm"] = "SHA256"
    with s3_errors(job.key):
        upload_id = client.create_multipart_upload(Bucket=target.bucket, Key=job.key, **extra)["UploadId"]
    progress.on_upload_started(upload_id, part_size)
    return upload_id, {}


def _list_parts(client: S3Client, bucket: str, key: str, upload_id: str) -> dict[int, str] | None:
    """Parts S3 holds for an upload, as {number: bare ETag}; None if the upload is gone."""
    parts: dict[int, str] = {}
    marker = 0
    with s3_errors(key):
        while True:
            try:
                resp = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404"):
                    log.info("%s: multipart upload %s is gone, starting a new one", key, upload_id)
                    return None
                raise
            for p in resp.get("Parts", []):
                parts[p["PartNumber"]] = checksums.strip_etag(p["ETag"])
            if not resp.get("IsTruncated"):
                return parts
            marker = resp["NextPartNumberMarker"]


def abort_multipart(client: S3Client, bucket: str, key: str, upload_id: str) -> None:
    """Abort an upload so its parts stop costing storage; a missing upload is fine."""
    with s3_errors(key):
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise


def stored_matches(client: S3Client, target: Target, key: str, expected: Expected) -> bool | None:
    """Compare the stored object with ``expected``: True if equal, False if different, None if absent."""
    with s3_errors(key):
        try:
            kwargs: dict[str, Any] = {"ChecksumMode": "ENABLED"} if expected.sha256 else {}
            head = client.head_object(Bucket=target.bucket, Key=key, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
    return mismatch(key, head, expected) is None


def check_returned_etag(key: str, landed: Landed) -> None:
    """The first integrity test, free: the ETag S3 returned is its own MD5 of what it received."""
    if checksums.etag_is_md5(landed.etag, None) and landed.etag != landed.expected.etag:
        raise IntegrityError(f"{key}: S3 returned ETag {landed.etag}, local {landed.expected.etag}")


def verify(client: S3Client, target: Target, key: str, expected: Expected) -> None:
    """The integrity test: raise IntegrityError unless the stored object has the expected size and hash."""
    with s3_errors(key):
        kwargs: dict[str, Any] = {"ChecksumMode": "ENABLED"} if expected.sha256 else {}
        head = client.head_object(Bucket=target.bucket, Key=key, **kwargs)
    problem = mismatch(key, head, expected)
    if problem:
        raise IntegrityError(problem)


def mismatch(key: str, head: Any, expected: Expected) -> str | None:
    """Why ``head`` does not describe the expected object, or None if it does."""
    size = head.get("ContentLength")
    if size != expected.size:
        return f"{key}: stored size {size}, local size {expected.size}"
    etag = checksums.strip_etag(head.get("ETag", ""))
    if checksums.etag_is_md5(etag, head.get("ServerSideEncryption")):
        # A multipart object's ETag is MD5-of-part-MD5s-N on S3; rclone serve s3 reports the whole MD5.
        if etag != expected.etag and not (expected.md5 and etag == expected.md5):
            return f"{key}: stored ETag {etag}, local {expected.etag}"
        return None
    if expected.sha256 is None:
        raise PermanentError(
            f"{key}: ETag {etag} is not an MD5 (SSE-KMS?); set SURECAST_S3_CHECKSUM_ALGORITHM=SHA256 to verify"
        )
    stored = head.get("ChecksumSHA256")
    if stored is None or stored.split("-")[0] != expected.sha256.split("-")[0]:
        return f"{key}: stored SHA-256 {stored}, local {expected.sha256}"
    return None
