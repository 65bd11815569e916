"""`surecast bucket-setup`: pure builders, then the real command against the S3 server (SeaweedFS), the viewers'
page it delivers to every destination included."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from core.contract import IMMUTABLE_CACHE_CONTROL, PAGE_CACHE_CONTROL, PRIMARY
from journal.files import State
from stack.bucket_setup import (
    CORS_RULE_ID,
    LIFECYCLE_RULE_ID,
    POLICY_SID,
    BucketSetupError,
    Current,
    apply_plan,
    cors_rule,
    lifecycle_rule,
    make_plan,
    merge_policy,
    public_read_statement,
)
from tests.support.destinations import BACKUP, BACKUP_PREFIX, backup_destination
from tests.support.stack import BIN, Stack

FOREIGN_CORS = {"ID": "someone-else", "AllowedMethods": ["PUT"], "AllowedOrigins": ["https://upload.example"]}
FOREIGN_RULE = {"ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}
FOREIGN_STATEMENT = {
    "Sid": "Backup",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::b/backup/*",
}


# Pure ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origins", "expected"),
    [((), ["*"]), (("https://a.example", "https://b.example"), ["https://a.example", "https://b.example"])],
)
def test_cors_rule_allows_only_reads_from_the_given_origins(origins: tuple[str, ...], expected: list[str]) -> None:
    rule = cors_rule(origins)
    assert rule["AllowedOrigins"] == expected
    assert rule["AllowedMethods"] == ["GET", "HEAD"]
    assert rule["ID"] == CORS_RULE_ID


@pytest.mark.parametrize(("prefix", "expected"), [("live", "live/"), ("a/b", "a/b/"), ("", "")])
def test_lifecycle_rule_covers_the_stream_prefix(prefix: str, expected: str) -> None:
    rule = lifecycle_rule(prefix, 3)
    assert rule["Filter"] == {"Prefix": expected}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}


def test_lifecycle_rule_needs_at_least_one_day() -> None:
    with pytest.raises(ValueError):
        lifecycle_rule("live", 0)


def test_public_read_is_limited_to_the_prefix() -> None:
    statement = public_read_statement("venue", "live")
    assert statement["Resource"] == "arn:aws:s3:::venue/live/*"
    assert statement["Action"] == "s3:GetObject"


def test_public_read_refuses_a_whole_bucket() -> None:
    with pytest.raises(ValueError, match="SURECAST_S3_PREFIX"):
        public_read_statement("venue", "")


@pytest.mark.parametrize("statements", [[FOREIGN_STATEMENT], FOREIGN_STATEMENT])
def test_merge_policy_keeps_other_statements(statements: Any) -> None:
    ours = public_read_statement("b", "live")
    merged = merge_policy({"Version": "2012-10-17", "Statement": statements}, ours)
    assert merged["Statement"] == [FOREIGN_STATEMENT, ours]
    assert merge_policy(merged, ours) == merged  # applying twice changes nothing


def test_plan_replaces_our_rules_and_keeps_the_others() -> None:
    old_ours = {**cors_rule(["https://old.example"])}
    current = Current(cors_rules=[FOREIGN_CORS, old_ours], lifecycle_rules=[FOREIGN_RULE], policy=None)
    plan = make_plan("b", "live", current, ["https://new.example"], 7, public_read=False)
    assert plan.cors["CORSRules"] == [FOREIGN_CORS, cors_rule(["https://new.example"])]
    assert [r["ID"] for r in plan.lifecycle["Rules"]] == ["expire-tmp", LIFECYCLE_RULE_ID]
    assert plan.policy is None


class _PartialServer:
    """An S3 client whose server has CORS, lacks lifecycle and forbids public policies."""

    def put_bucket_cors(self, **kwargs: Any) -> None:
        return None

    def put_bucket_lifecycle_configuration(self, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "NotImplemented", "Message": "no"}}, "PutBucketLifecycleConfiguration")

    def put_bucket_policy(self, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "blocked"}}, "PutBucketPolicy")


def test_unsupported_steps_are_skipped_and_failures_stop_unless_best_effort() -> None:
    plan = make_plan("b", "live", Current(), [], 7, public_read=True)
    with pytest.raises(BucketSetupError, match="Block Public Access"):
        apply_plan(_PartialServer(), "b", plan)  # type: ignore[arg-type]
    outcomes = dict(apply_plan(_PartialServer(), "b", plan, best_effort=True))  # type: ignore[arg-type]
    assert outcomes["cors"] == "applied"
    assert "not supported" in outcomes["lifecycle"]
    assert outcomes["policy"].startswith("skipped") and "AccessDenied" in outcomes["policy"]


# Against the S3 server ----------------------------------------------------------------------------------


def _direct(stack: Stack) -> dict[str, str]:
    """The stack's environment, talking to moto directly (the fault proxy plays no part here)."""
    return {**stack.env, "SURECAST_S3_ENDPOINT_URL": stack.s3_server.endpoint_url}


def _run(stack: Stack, *args: str, bucket: str | None = None) -> subprocess.CompletedProcess[str]:
    env = _direct(stack)
    if bucket:
        env["SURECAST_S3_BUCKET"] = bucket
    return subprocess.run(
        [str(BIN / "surecast"), "bucket-setup", *args],
        env=env,
        cwd=stack.tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bucket_setup_applies_cors_and_lifecycle_and_keeps_other_rules(stack: Stack) -> None:
    stack.s3.put_bucket_cors(Bucket=stack.bucket, CORSConfiguration={"CORSRules": [FOREIGN_CORS]})
    stack.s3.put_bucket_lifecycle_configuration(Bucket=stack.bucket, LifecycleConfiguration={"Rules": [FOREIGN_RULE]})

    for _ in range(2):  # a second run finds our rules by ID and replaces them
        result = _run(stack, "--cors-origin", "https://player.example", "--abort-multipart-days", "2")
        assert result.returncode == 0, result.stderr
    assert "cors applied" in result.stdout and "lifecycle applied" in result.stdout

    cors = stack.s3.get_bucket_cors(Bucket=stack.bucket)["CORSRules"]
    ours = [r for r in cors if r.get("ID") == CORS_RULE_ID]
    assert len(ours) == 1 and len(cors) == 2
    assert ours[0]["AllowedOrigins"] == ["https://player.example"]
    assert sorted(ours[0]["AllowedMethods"]) == ["GET", "HEAD"]
    rules = stack.s3.get_bucket_lifecycle_configuration(Bucket=stack.bucket)["Rules"]
    assert sorted(r["ID"] for r in rules) == sorted(["expire-tmp", LIFECYCLE_RULE_ID])
    (abort,) = [r for r in rules if r["ID"] == LIFECYCLE_RULE_ID]
    assert abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    assert abort["Filter"] == {"Prefix": "live/"}


def test_public_read_policy_is_opt_in_and_covers_only_the_prefix(stack: Stack) -> None:
    assert _run(stack).returncode == 0
    with pytest.raises(stack.s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        stack.s3.get_bucket_policy(Bucket=stack.bucket)

    result = _run(stack, "--public-read")
    assert result.returncode == 0, result.stderr
    policy = json.loads(stack.s3.get_bucket_policy(Bucket=stack.bucket)["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Sid"] == POLICY_SID
    assert statement["Resource"] == f"arn:aws:s3:::{stack.bucket}/live/*"
    assert statement["Action"] == "s3:GetObject"


def test_dry_run_prints_the_json_and_changes_nothing(stack: Stack) -> None:
    stack.s3.put_bucket_cors(Bucket=stack.bucket, CORSConfiguration={"CORSRules": [FOREIGN_CORS]})
    result = _run(stack, "--dry-run", "--public-read")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert [r.get("ID") for r in shown["cors"]["CORSRules"]] == ["someone-else", CORS_RULE_ID]
    assert shown["lifecycle"]["Rules"][0]["ID"] == LIFECYCLE_RULE_ID
    assert shown["policy"]["Statement"][0]["Resource"] == f"arn:aws:s3:::{stack.bucket}/live/*"
    (kept,) = stack.s3.get_bucket_cors(Bucket=stack.bucket)["CORSRules"]
    assert kept | FOREIGN_CORS == kept  # unchanged (the server may add defaults such as MaxAgeSeconds 0)
    with pytest.raises(stack.s3.exceptions.ClientError):
        stack.s3.get_bucket_lifecycle_configuration(Bucket=stack.bucket)


def test_create_makes_a_missing_bucket_and_is_idempotent(stack: Stack) -> None:
    bucket = f"new-{uuid.uuid4().hex[:10]}"
    first = _run(stack, "--create", bucket=bucket)
    assert first.returncode == 0, first.stderr
    assert f"bucket {bucket}: created" in first.stdout
    second = _run(stack, "--create", bucket=bucket)
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout
    stack.s3.head_bucket(Bucket=bucket)


def test_a_missing_bucket_without_create_is_a_one_line_error(stack: Stack) -> None:
    result = _run(stack, bucket=f"absent-{uuid.uuid4().hex[:10]}")
    assert result.returncode == 1
    assert "NoSuchBucket" in result.stderr
    assert "Traceback" not in result.stderr


def test_bucket_setup_delivers_the_viewers_page_to_every_destination_now(stack: Stack, tmp_path: Path) -> None:
    with backup_destination(stack, tmp_path) as backup:
        result = _run(stack, "--public-read")
        assert result.returncode == 0, result.stderr
        urls = {
            PRIMARY: f"{stack.s3_server.endpoint_url}/{stack.bucket}/live/main/index.html",
            BACKUP: f"{backup.server.endpoint_url}/{backup.bucket}/{BACKUP_PREFIX}/main/index.html",
        }
        for name, url in urls.items():
            assert f"viewers' page on {name}: delivered and verified: {url}" in result.stdout, result.stdout
        for (name, url), (client, bucket, prefix) in zip(
            urls.items(), [(stack.s3, stack.bucket, "live"), (backup.s3, backup.bucket, BACKUP_PREFIX)], strict=True
        ):
            page = client.get_object(Bucket=bucket, Key=f"{prefix}/main/index.html")
            html = page["Body"].read().decode()
            assert page["CacheControl"] == PAGE_CACHE_CONTROL and page["ContentType"].startswith("text/html")
            named = re.findall(r'(?:src|href)="\.\./(_player/[^"]+)"', html)
            assert len(named) == 5, html
            for relative in named:
                head = client.head_object(Bucket=bucket, Key=f"{prefix}/{relative}")
                assert head["CacheControl"] == IMMUTABLE_CACHE_CONTROL, relative
            journal = stack.journal(name)
            assert journal.get(f"{prefix}/main/index.html").state == State.VERIFIED  # type: ignore[union-attr]
            journal.close()
            with urllib.request.urlopen(url, timeout=10) as anonymous:  # as a viewer opens the link
                assert anonymous.read().decode() == html
        again = _run(stack)
        assert again.returncode == 0 and again.stdout.count("delivered and verified") == 2, again.stderr
        assert "--public-read" in again.stdout  # without it, it says what viewers need
