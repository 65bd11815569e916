"""Unit tests of the uploader's pure logic: keys, paths, parts, ETags, backoff, error mapping."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pydantic import ValidationError

from core.backoff import backoff_delay
from core.contract import UploadJob, check_object_key, check_spool_path
from uploader import checksums, errors
from uploader.parts import MIB, choose_part_size, plan_parts, uses_multipart
from uploader.transfer import Expected, mismatch

MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@pytest.mark.parametrize("key", ["live/ev1/720p/seg_00001.ts", "a", "live/x=1,y@2.m3u8"])
def test_safe_object_keys_pass(key: str) -> None:
    assert check_object_key(key) == key


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "1-1024"),
        ("/abs", "start with '/'"),
        ("a//b", "'//'"),
        ("a/../b", "'..'"),
        ("a/./b", "'..'"),
        ("sp ace", "characters"),
        ("new\nline", "characters"),
        ("x" * 1025, "1-1024"),
    ],
)
def test_unsafe_object_keys_are_refused_with_reason(key: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_object_key(key)


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "", "a\\..\\b", "a\x00b"])
def test_spool_paths_leaving_the_spool_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        check_spool_path(path)


def test_payload_rejects_bad_md5_and_extra_fields() -> None:
    base = {"path": "a.ts", "key": "k/a.ts", "size": 1, "md5": MD5}
    assert UploadJob(**base).kind == "other"
    with pytest.raises(ValidationError, match="md5"):
        UploadJob(**{**base, "md5": "XYZ"})
    with pytest.raises(ValidationError, match="extra"):
        UploadJob(**{**base, "surprise": 1})
    with pytest.raises(ValidationError, match="one line"):
        UploadJob(**{**base, "content_type": "text/plain\r\nX-Evil: 1"})


def test_payload_round_trips_through_json() -> None:
    job = UploadJob(path="a.ts", key="k/a.ts", size=3, md5=MD5, kind="segment", version=7)
    assert UploadJob.model_validate_json(job.model_dump_json()) == job


@pytest.mark.parametrize(
    ("size", "threshold", "expected"),
    [(0, 16 * MIB, False), (16 * MIB - 1, 16 * MIB, False), (16 * MIB, 16 * MIB, True), (6 * 1024**3, 10**12, True)],
)
def test_multipart_threshold(size: int, threshold: int, expected: bool) -> None:
    assert uses_multipart(size, threshold) is expected


@pytest.mark.parametrize(
    ("size", "wanted", "expected"),
    [(100 * MIB, 8 * MIB, 8 * MIB), (100 * MIB, 1, 5 * MIB), (200_000 * MIB, 8 * MIB, 32 * MIB)],
)
def test_part_size_respects_s3_limits(size: int, wanted: int, expected: int) -> None:
    part = choose_part_size(size, wanted)
    assert part == expected
    assert -(-size // part) <= 10_000


@pytest.mark.parametrize(
    ("size", "part_size"), [(0, 5 * MIB), (1, 5 * MIB), (10 * MIB, 5 * MIB), (11 * MIB + 3, 5 * MIB)]
)
def test_parts_cover_the_file_exactly(size: int, part_size: int) -> None:
    parts = plan_parts(size, part_size)
    assert [p.number for p in parts] == list(range(1, len(parts) + 1))
    assert sum(p.size for p in parts) == size
    assert all(p.offset == i * part_size for i, p in enumerate(parts))


def test_multipart_etag_is_md5_of_part_md5s() -> None:
    data = [b"a" * 10, b"b" * 7]
    digests = [hashlib.md5(d).digest() for d in data]
    assert checksums.multipart_etag(digests) == hashlib.md5(b"".join(digests)).hexdigest() + "-2"


@pytest.mark.parametrize(
    ("etag", "sse", "expected"),
    [('"' + MD5 + '"', None, True), (MD5 + "-3", "AES256", True), (MD5, "aws:kms", False), ("abc", None, False)],
)
def test_etag_is_md5_detection(etag: str, sse: str | None, expected: bool) -> None:
    assert checksums.etag_is_md5(etag, sse) is expected


def test_content_md5_header_is_base64_of_digest() -> None:
    assert checksums.content_md5(MD5) == "1B2M2Y8AsgTpgAmY7PhCfg=="


@pytest.mark.parametrize("retries", [0, 1, 5, 40, 1000])
def test_backoff_is_capped_and_jittered(retries: int) -> None:
    rand = random.Random(retries)
    delays = [backoff_delay(retries, 0.5, 30.0, rand) for _ in range(50)]
    ceiling = min(30.0, 0.5 * 2**retries)
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Put")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_client_error("SlowDown", 503), errors.Throttled),
        (_client_error("InternalError", 500), errors.Throttled),
        (_client_error("RequestTimeout", 400), errors.Throttled),
        (_client_error("BadDigest", 400), errors.IntegrityError),
        (_client_error("AccessDenied", 403), errors.AccessDenied),
        (_client_error("InvalidAccessKeyId", 403), errors.AccessDenied),
        (_client_error("NoSuchBucket", 404), errors.NoSuchBucket),
        (_client_error("InvalidArgument", 400), errors.Suspect),
        (_client_error("SignatureDoesNotMatch", 403), errors.Suspect),
        (_client_error("MalformedDate", 400), errors.Suspect),
        (_client_error("404", 404), errors.Suspect),  # a bare 404: a captive portal's HTML page
        (_client_error("403", 403), errors.Suspect),
        (_client_error("NoSuchUpload", 404), errors.PermanentError),
        (_client_error("PermanentRedirect", 301), errors.PermanentError),
        (EndpointConnectionError(endpoint_url="http://x"), errors.ConnectionLost),
        (ReadTimeoutError(endpoint_url="http://x"), errors.ConnectionLost),
        (ConnectionResetError(), errors.ConnectionLost),
    ],
)
def test_botocore_errors_map_to_what_the_caller_should_do(exc: Exception, kind: type) -> None:
    with pytest.raises(kind) as caught, errors.s3_errors("the/key"):
        raise exc
    assert caught.value.__cause__ is exc
    assert "the/key" in str(caught.value)


def test_unknown_errors_pass_through_untranslated() -> None:
    with pytest.raises(KeyError), errors.s3_errors("k"):
        raise KeyError("bug")


KMS_ETAG = "f" * 40  # not an MD5: what SSE-KMS objects carry


@pytest.mark.parametrize(
    ("head", "expected", "problem"),
    [
        ({"ContentLength": 3, "ETag": f'"{MD5}"'}, Expected(3, MD5, None), None),
        ({"ContentLength": 4, "ETag": f'"{MD5}"'}, Expected(3, MD5, None), "stored size 4"),
        ({"ContentLength": 3, "ETag": '"' + "a" * 32 + '"'}, Expected(3, MD5, None), "stored ETag"),
        # a server that reports a multipart object's whole MD5 (rclone serve s3), and one that is wrong
        ({"ContentLength": 3, "ETag": f'"{MD5}"'}, Expected(3, "b" * 32 + "-2", None, MD5), None),
        ({"ContentLength": 3, "ETag": '"' + "a" * 32 + '"'}, Expected(3, "b" * 32 + "-2", None, MD5), "stored ETag"),
        (
            {"ContentLength": 3, "ETag": KMS_ETAG, "ServerSideEncryption": "aws:kms", "ChecksumSHA256": "abc="},
            Expected(3, MD5, "abc="),
            None,
        ),
        (
            {"ContentLength": 3, "ETag": KMS_ETAG, "ServerSideEncryption": "aws:kms", "ChecksumSHA256": "abd="},
            Expected(3, MD5, "abc="),
            "stored SHA-256",
        ),
        (
            {"ContentLength": 3, "ETag": KMS_ETAG, "ServerSideEncryption": "aws:kms", "ChecksumSHA256": "abc=-2"},
            Expected(3, MD5 + "-2", "abc=-2"),
            None,
        ),
    ],
)
def test_integrity_mismatch_uses_etag_or_checksum(
    head: dict[str, object], expected: Expected, problem: str | None
) -> None:
    found = mismatch("k", head, expected)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_kms_object_without_checksum_cannot_be_verified_and_says_how_to_fix() -> None:
    head = {"ContentLength": 3, "ETag": KMS_ETAG, "ServerSideEncryption": "aws:kms"}
    with pytest.raises(errors.PermanentError, match="SURECAST_S3_CHECKSUM_ALGORITHM=SHA256"):
        mismatch("k", head, Expected(3, MD5, None))


@pytest.mark.parametrize(
    ("nbytes", "rate", "expected"),
    [
        (8 * 2**20, 0.0, 5.0),  # nothing measured yet: the configured timeout
        (100_000, 1_000_000.0, 5.0),
        (8 * 2**20, 1_000_000.0, 40.0),  # 8 MiB at 1 MB/s: 25 s of sending at a third of the rate
        (64 * 2**20, 100_000.0, 320.0),  # capped at 64 times the configured timeout
    ],
)
def test_the_read_timeout_grows_with_the_size_and_the_measured_rate(nbytes: int, rate: float, expected: float) -> None:
    from uploader.pacing import read_timeout_for

    assert read_timeout_for(nbytes, rate, base=5.0) == expected


def test_the_upload_rate_ignores_small_uploads_and_smooths_the_rest() -> None:
    from uploader.pacing import UploadRate

    rate = UploadRate()
    rate.note(1000, 0.001)
    assert rate.bytes_per_second == 0.0
    rate.note(4_000_000, 2.0)
    rate.note(4_000_000, 4.0)
    assert rate.bytes_per_second == pytest.approx(2_000_000 + 0.3 * (1_000_000 - 2_000_000))


def test_uploads_send_no_expect_100_continue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The body goes with the headers: no round trip (or a second, where a server never answers) waiting for
    100 Continue. Stopped before anything is sent."""
    from core.s3_section import S3Section
    from uploader.s3client import make_s3_client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    body = tmp_path / "seg.ts"
    body.write_bytes(b"x" * 2_000_000)
    client = make_s3_client(S3Section(bucket="abc", endpoint_url="http://127.0.0.1:9"))
    sent: dict[str, str] = {}

    class Stop(Exception):
        pass

    def capture(request: Any, **_: Any) -> None:
        sent.update(request.headers)
        raise Stop

    client.meta.events.register("before-send.s3.PutObject", capture)
    with body.open("rb") as f, pytest.raises(Stop):
        client.put_object(Bucket="abc", Key="k", Body=f)
    assert sent and "Expect" not in sent


@pytest.mark.parametrize(
    ("done", "total", "elapsed", "expected"),
    [
        (0, 100 * MIB, 2.0, "0.0 of 100.0 MiB verified, 0.0 Mbit/s, time left unknown"),
        (25 * MIB, 100 * MIB, 10.0, "25.0 of 100.0 MiB verified, 21.0 Mbit/s, 30 s left"),
        (100 * MIB, 100 * MIB, 40.0, "100.0 of 100.0 MiB verified, 21.0 Mbit/s, done"),
    ],
)
def test_send_progress_counts_verified_bytes_and_the_time_left_at_the_rate_so_far(
    done: int, total: int, elapsed: float, expected: str
) -> None:
    from uploader.send import render_progress

    assert render_progress(done, total, elapsed) == expected


def test_only_a_file_of_more_than_split_above_parts_parts_is_split_into_part_tasks() -> None:
    from uploader.parts import SPLIT_ABOVE_PARTS, splits_into_tasks

    part = 8 * MIB
    assert not splits_into_tasks(64 * MIB, part)  # the many-files benchmark's big files: one task each
    assert not splits_into_tasks(SPLIT_ABOVE_PARTS * part, part)
    assert splits_into_tasks(SPLIT_ABOVE_PARTS * part + 1, part)
    assert splits_into_tasks(512 * MIB, part)
