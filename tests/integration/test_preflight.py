"""The preflight against the real S3 server: one line naming what is wrong and the setting to change."""

from __future__ import annotations

from email.utils import formatdate

import pytest
from pydantic import SecretStr

from core.s3_section import S3Section
from tests.support.procs import free_port, wait_until
from tests.support.stack import Stack
from uploader.preflight import clock_problem, preflight


def section(stack: Stack, **changes: object) -> S3Section:
    return stack.settings().s3.model_copy(update=changes)


def test_a_writable_bucket_passes_and_the_probe_is_removed(stack: Stack) -> None:
    assert preflight(section(stack)) == []
    listed = stack.s3.list_objects_v2(Bucket=stack.bucket).get("Contents", [])
    assert listed == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"secret_access_key": SecretStr("wrong")},
            "check SURECAST_S3_ACCESS_KEY_ID and SURECAST_S3_SECRET_ACCESS_KEY",
        ),
        ({"bucket": "no-such-bucket-here"}, "bucket 'no-such-bucket-here' does not exist: set SURECAST_S3_BUCKET"),
    ],
)
def test_a_wrong_setting_is_named_in_one_line(stack: Stack, changes: dict[str, object], expected: str) -> None:
    (problem,) = preflight(section(stack, **changes))
    assert expected in problem and "\n" not in problem


def test_an_unreachable_server_is_said_quickly(stack: Stack) -> None:
    (problem,) = preflight(section(stack, endpoint_url=f"http://127.0.0.1:{free_port()}"))
    assert "is unreachable" in problem and "SURECAST_S3_ENDPOINT_URL" in problem


def test_no_credentials_anywhere_is_named(stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path) + "/none")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path) + "/none")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    (problem,) = preflight(section(stack, access_key_id=None, secret_access_key=None))
    assert problem.startswith("no S3 credentials found: set SURECAST_S3_ACCESS_KEY_ID")


@pytest.mark.parametrize(("offset", "said"), [(0, None), (240, None), (400, "ahead of"), (-3600, "behind")])
def test_a_clock_more_than_five_minutes_off_is_said(offset: float, said: str | None) -> None:
    problem = clock_problem(formatdate(1_800_000_000 + offset, usegmt=True), 1_800_000_000)
    assert (problem is None) if said is None else (said in (problem or "") and "NTP" in (problem or ""))


def test_a_worker_with_a_wrong_bucket_says_so_at_start_and_runs_anyway(stack: Stack) -> None:
    stack.env["SURECAST_S3_BUCKET"] = "no-such-bucket-here"
    worker = stack.start_worker()
    assert worker.poll() is None
    wait_until(lambda: "S3 preflight: bucket 'no-such-bucket-here' does not exist" in stack.worker_log(), 10)
