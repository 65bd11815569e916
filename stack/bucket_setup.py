"""`surecast bucket-setup`: make the bucket ready for players and keep it clean.

Three settings, each merged into what the bucket already has (rules and statements of other tools are
kept; ours are found by their ID and replaced, so running the command again changes nothing):

- CORS: GET and HEAD from any origin, or from a given list, so browser players can read playlists
  and segments.
- Lifecycle: abort multipart uploads still incomplete N days after they started, under the stream
  prefix. A backstop: the reconciler aborts uploads no journal knows of on its own.
- Public read (opt-in, ``--public-read``): a bucket-policy statement letting anyone GET objects under
  the stream prefix, and nothing else. Opt-in because many buckets forbid public policies (S3 Block
  Public Access) and a CDN with its own access is often the better way to serve viewers.

``--dry-run`` prints the JSON that would be applied (the command is in surecast.commands.stack). The
builders are pure; botocore errors are
translated in one place, ``_s3_step``; a feature the server does not implement (some S3-compatible
servers lack lifecycle or bucket policies) is reported and skipped, not fatal.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore import exceptions as bce

from core.errors import SurecastError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CORS_RULE_ID = "surecast-players"
LIFECYCLE_RULE_ID = "surecast-abort-incomplete-multipart"
POLICY_SID = "SurecastPublicReadStream"
POLICY_VERSION = "2012-10-17"
CORS_MAX_AGE = 3600
# Headers a player needs to read: ETag for caching, the range headers for byte-range playlists.
CORS_EXPOSE = ["ETag", "Content-Length", "Content-Range", "Accept-Ranges"]
# Error codes of servers that do not implement a bucket sub-resource.
_UNSUPPORTED = {"NotImplemented", "MethodNotAllowed", "UnsupportedOperation", "XNotImplemented"}
_ABSENT = {"NoSuchCORSConfiguration", "NoSuchLifecycleConfiguration", "NoSuchBucketPolicy"}


class BucketSetupError(SurecastError):
    """A step failed for a reason the operator must fix (credentials, permissions, bucket name)."""


class Unsupported(BucketSetupError):
    """The server does not implement this bucket setting."""


# Pure builders ------------------------------------------------------------------------------------------


def cors_rule(origins: Sequence[str]) -> dict[str, Any]:
    """Our CORS rule: read-only access for players from ``origins`` (``*`` when empty)."""
    return {
        "ID": CORS_RULE_ID,
        "AllowedMethods": ["GET", "HEAD"],
        "AllowedOrigins": list(origins) or ["*"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": list(CORS_EXPOSE),
        "MaxAgeSeconds": CORS_MAX_AGE,
    }


def lifecycle_rule(prefix: str, abort_after_days: int) -> dict[str, Any]:
    """Our lifecycle rule: abort incomplete multipart uploads under ``prefix`` after N days."""
    if abort_after_days < 1:
        raise ValueError("abort_after_days must be at least 1")
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": f"{prefix}/" if prefix else ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": abort_after_days},
    }


def public_read_statement(bucket: str, prefix: str) -> dict[str, Any]:
    """Anonymous GetObject on the stream prefix only; never the whole bucket."""
    if not prefix:
        raise ValueError("SURECAST_S3_PREFIX is empty: a public-read policy would cover the whole bucket; set a prefix")
    return {
        "Sid": POLICY_SID,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}/*",
    }


def merge_by_key(existing: Sequence[dict[str, Any]], ours: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``existing`` without any entry whose ``key`` equals ours, then ours."""
    return [item for item in existing if item.get(key) != ours[key]] + [ours]


def merge_policy(existing: dict[str, Any] | None, statement: dict[str, Any]) -> dict[str, Any]:
    """A bucket policy with our statement added or replaced, every other statement kept."""
    policy = dict(existing or {})
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):  # a policy may hold a single statement object
        statements = [statements]
    policy["Version"] = policy.get("Version", POLICY_VERSION)
    policy["Statement"] = merge_by_key(statements, statement, "Sid")
    return policy


@dataclass(frozen=True)
class Current:
    """What the bucket has now (empty where it has nothing)."""

    cors_rules: list[dict[str, Any]] = field(default_factory=list)
    lifecycle_rules: list[dict[str, Any]] = field(default_factory=list)
    policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class Plan:
    """The three documents to apply; ``policy`` is None when public read was not asked for."""

    cors: dict[str, Any]
    lifecycle: dict[str, Any]
    policy: dict[str, Any] | None

    def as_json(self, bucket: str) -> str:
        return json.dumps({"bucket": bucket, "cors": self.cors, "lifecycle": self.lifecycle, "policy": self.policy})


def make_plan(
    bucket: str, prefix: str, current: Current, origins: Sequence[str], abort_after_days: int, public_read: bool
) -> Plan:
    """Merge our rules into the bucket's current configuration. Pure."""
    return Plan(
        cors={"CORSRules": merge_by_key(current.cors_rules, cors_rule(origins), "ID")},
        lifecycle={"Rules": merge_by_key(current.lifecycle_rules, lifecycle_rule(prefix, abort_after_days), "ID")},
        policy=merge_policy(current.policy, public_read_statement(bucket, prefix)) if public_read else None,
    )


# S3 calls -----------------------------------------------------------------------------------------------


@contextmanager
def _s3_step(step: str, bucket: str) -> Iterator[None]:
    """Translate botocore errors of one step into BucketSetupError (or Unsupported), keeping the cause."""
    try:
        yield
    except bce.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _UNSUPPORTED or status == 501:
            raise Unsupported(f"{step}: not supported by this server ({code or status})") from exc
        hint = ""
        if code in ("AccessDenied", "403") and step == "policy":
            hint = " (S3 Block Public Access may forbid public policies on this bucket or account)"
        raise BucketSetupError(f"{step} on bucket {bucket}: {code or status}: {exc}{hint}") from exc
    except bce.BotoCoreError as exc:
        raise BucketSetupError(f"{step} on bucket {bucket}: {exc}") from exc


def _absent(exc: bce.ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _ABSENT


def read_current(client: S3Client, bucket: str) -> Current:
    """The bucket's CORS rules, lifecycle rules and policy; a setting the server lacks reads as empty."""
    cors: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    policy: dict[str, Any] | None = None

    def read_cors() -> None:
        cors.extend(dict(r) for r in client.get_bucket_cors(Bucket=bucket).get("CORSRules", []))

    def read_lifecycle() -> None:
        found = client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
        rules.extend(dict(r) for r in found)

    def read_policy() -> None:
        nonlocal policy
        policy = json.loads(client.get_bucket_policy(Bucket=bucket)["Policy"])

    readers: list[tuple[str, Callable[[], None]]] = [
        ("read cors", read_cors),
        ("read lifecycle", read_lifecycle),
        ("read policy", read_policy),
    ]
    for step, read in readers:
        try:
            with _s3_step(step, bucket):
                try:
                    read()
                except bce.ClientError as exc:
                    if not _absent(exc):
                        raise
        except Unsupported:
            continue
    return Current(cors, rules, policy)


def ensure_bucket(client: S3Client, bucket: str, region: str) -> bool:
    """Create the bucket if it does not exist; True if it was created."""
    with _s3_step("create bucket", bucket):
        try:
            client.head_bucket(Bucket=bucket)
            return False
        except bce.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            client.create_bucket(**kwargs)
        except bce.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) != "BucketAlreadyOwnedByYou":
                raise
            return False
        return True


def apply_plan(client: S3Client, bucket: str, plan: Plan, best_effort: bool = False) -> list[tuple[str, str]]:
    """Apply each document; returns (step, outcome) pairs, outcome "applied" or why it was skipped.

    A step the server does not implement is skipped; with ``best_effort`` any failed step is.
    """
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("cors", lambda: client.put_bucket_cors(Bucket=bucket, CORSConfiguration=plan.cors)),  # type: ignore[arg-type]
        (
            "lifecycle",
            lambda: client.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                LifecycleConfiguration=plan.lifecycle,  # type: ignore[arg-type]
            ),
        ),
    ]
    if plan.policy is not None:
        policy = json.dumps(plan.policy)
        steps.append(("policy", lambda: client.put_bucket_policy(Bucket=bucket, Policy=policy)))
    outcomes = []
    for step, call in steps:
        try:
            with _s3_step(step, bucket):
                call()
            outcomes.append((step, "applied"))
        except Unsupported as exc:
            outcomes.append((step, f"skipped: {exc}"))
        except BucketSetupError as exc:
            if not best_effort:
                raise
            outcomes.append((step, f"skipped: {exc}"))
    return outcomes


def wait_for_server(client: S3Client, bucket: str, timeout: float, interval: float = 1.0) -> None:
    """Retry until the server answers (any S3 answer will do) or ``timeout`` passes; for one-shot containers."""
    deadline = time.monotonic() + timeout
    with _s3_step("connect", bucket):
        while True:
            try:
                client.head_bucket(Bucket=bucket)
                return
            except bce.ClientError:
                return  # it answered: 404 and 403 are answers
            except bce.BotoCoreError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(interval)


def dry_run(client: S3Client, bucket: str, prefix: str, origins: Sequence[str], days: int, public_read: bool) -> Plan:
    """The plan against what the bucket has now; alone (with a warning) if the bucket cannot be read."""
    try:
        current = read_current(client, bucket)
    except BucketSetupError as exc:
        log.warning("could not read the bucket's current settings (%s); shown alone", exc)
        current = Current()
    return make_plan(bucket, prefix, current, origins, days, public_read)


def set_up(
    client: S3Client,
    bucket: str,
    prefix: str,
    origins: Sequence[str],
    days: int,
    public_read: bool,
    best_effort: bool,
) -> list[tuple[str, str]]:
    """Merge our rules into the bucket and apply them; (step, outcome) pairs. Raises BucketSetupError."""
    try:
        current = read_current(client, bucket)
    except BucketSetupError:
        if not best_effort:
            raise
        current = Current()
    plan = make_plan(bucket, prefix, current, origins, days, public_read)
    return apply_plan(client, bucket, plan, best_effort)
