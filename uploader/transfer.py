"""Send one spool file to S3 (single PUT or resumable multipart) and verify what landed.

Every call to S3 runs inside ``s3_errors(key)``, the one place botocore errors become ours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from uploader import checksums
from uploader.contract import UploadJob
from uploader.digest import FileDigest
from uploader.errors import IntegrityError, PermanentError, RetryableError, s3_errors
from uploader.journal import Journal
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

    @classmethod
    def of(cls, job: UploadJob, digest: FileDigest) -> Expected:
        if digest.part_md5s:
            etag = checksums.multipart_etag(digest.part_md5s)
            sha = checksums.composite_sha256(digest.part_sha256s) if digest.part_sha256s else None
        else:
            etag = digest.md5
            sha = checksums.sha256_b64(digest.sha256) if digest.sha256 else None
        return cls(job.size, etag, sha)


def _headers(job: UploadJob) -> dict[str, str]:
    return {"ContentType": job.content_type, "CacheControl": job.cache_control}


def put_single(client: S3Client, target: Target, job: UploadJob, path: Path, digest: FileDigest) -> int:
    """Upload ``path`` with one PUT carrying Content-MD5; return bytes sent."""
    extra: dict[str, Any] = _headers(job)
    if digest.sha256:
        extra["ChecksumSHA256"] = checksums.sha256_b64(digest.sha256)
    with s3_errors(job.key), path.open("rb") as body:
        client.put_object(
            Bucket=target.bucket,
            Key=job.key,
            Body=body,
            ContentLength=job.size,
            ContentMD5=checksums.content_md5(digest.md5),
            **extra,
        )
    return job.size


def put_multipart(
    client: S3Client,
    journal: Journal,
    target: Target,
    job: UploadJob,
    path: Path,
    digest: FileDigest,
    part_size: int,
) -> int:
    """Upload ``path`` in parts, resuming a journaled upload; return bytes sent in this call.

    Parts already in S3 with the right MD5 (per ListParts) are not sent again.
    """
    key = job.key
    row = journal.get(key)
    upload_id = row.upload_id if row and row.part_size == part_size else None
    present: dict[int, str] = {}
    if upload_id:
        listed = _list_parts(client, target.bucket, key, upload_id)
        if listed is None:
            upload_id = None
        else:
            present = listed
    if not upload_id:
        extra: dict[str, Any] = _headers(job)
        if target.sha256:
            extra["ChecksumAlgorithm"] = "SHA256"
        with s3_errors(key):
            upload_id = client.create_multipart_upload(Bucket=target.bucket, Key=key, **extra)["UploadId"]
        journal.set_multipart(key, upload_id, part_size)
        present = {}
    sent = 0
    completed: list[dict[str, Any]] = []
    with path.open("rb") as f:
        for part in plan_parts(job.size, part_size):
            md5 = digest.part_md5s[part.number - 1]
            entry: dict[str, Any] = {"PartNumber": part.number, "ETag": f'"{md5.hex()}"'}
            if digest.part_sha256s:
                entry["ChecksumSHA256"] = checksums.sha256_b64(digest.part_sha256s[part.number - 1])
            completed.append(entry)
            if present.get(part.number) == md5.hex():
                continue
            f.seek(part.offset)
            body = f.read(part.size)
            extra = {"ChecksumSHA256": entry["ChecksumSHA256"]} if digest.part_sha256s else {}
            with s3_errors(key):
                resp = client.upload_part(
                    Bucket=target.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=part.number,
                    Body=body,
                    ContentMD5=checksums.content_md5(md5.hex()),
                    **extra,
                )
            sent += part.size
            returned = checksums.strip_etag(resp["ETag"])
            if checksums.etag_is_md5(returned, resp.get("ServerSideEncryption")) and returned != md5.hex():
                raise IntegrityError(f"{key}: part {part.number} landed with ETag {returned}, sent {md5.hex()}")
            journal.record_part(key, upload_id, part.number, returned, part.size)
    with s3_errors(key):
        try:
            client.complete_multipart_upload(
                Bucket=target.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": completed},  # type: ignore[typeddict-item]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
            # Completed by a twin delivery, or aborted: the next attempt checks the object or starts anew.
            journal.set_multipart(key, None, None)
            raise RetryableError(f"{key}: multipart upload {upload_id} vanished before completion") from exc
    return sent


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
    return _compare(key, head, expected) is None


def verify(client: S3Client, target: Target, key: str, expected: Expected) -> None:
    """The integrity test: raise IntegrityError unless the stored object has the expected size and hash."""
    with s3_errors(key):
        kwargs: dict[str, Any] = {"ChecksumMode": "ENABLED"} if expected.sha256 else {}
        head = client.head_object(Bucket=target.bucket, Key=key, **kwargs)
    problem = _compare(key, head, expected)
    if problem:
        raise IntegrityError(problem)


def _compare(key: str, head: Any, expected: Expected) -> str | None:
    """Why ``head`` does not describe the expected object, or None if it does."""
    size = head.get("ContentLength")
    if size != expected.size:
        return f"{key}: stored size {size}, local size {expected.size}"
    etag = checksums.strip_etag(head.get("ETag", ""))
    if checksums.etag_is_md5(etag, head.get("ServerSideEncryption")):
        if etag != expected.etag:
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
