"""The preflight at start: are there credentials, is the bucket reachable and writable, is the clock right?

One clear line per problem, naming the setting to change. It never stops a process: the encoder records
to the spool whatever it finds, and the workers start anyway (files wait, and are retried, until the
cause is fixed). A probe object is written under ``<prefix>/.surecast-preflight/`` and removed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import boto3
from botocore import exceptions as bce

from core.s3_section import S3Section
from uploader.s3client import make_s3_client

log = logging.getLogger(__name__)
MAX_CLOCK_SKEW = 300.0  # S3 refuses signatures beyond 15 minutes; warn well before
PROBE_DIR = ".surecast-preflight"
PROBE_BODY = b"surecast preflight\n"


def clock_problem(server_date: str | None, now: float) -> str | None:
    """A line if the server's ``Date`` header is more than 5 minutes from ``now``. Pure."""
    if not server_date:
        return None
    try:
        skew = parsedate_to_datetime(server_date).timestamp() - now
    except (TypeError, ValueError):
        return None
    if abs(skew) <= MAX_CLOCK_SKEW:
        return None
    side = "ahead of" if skew > 0 else "behind"
    return (
        f"the S3 server's clock is {abs(skew):.0f} s {side} this PC's: set this PC's clock (NTP); "
        "S3 refuses requests signed more than 15 minutes off"
    )


def client_problem(code: str, s3: S3Section) -> str:
    """The line for an S3 error code the probe met, naming the setting to change. Pure."""
    if code == "NoSuchBucket":
        return (
            f"bucket {s3.bucket!r} does not exist: set SURECAST_S3_BUCKET, "
            "or create it (surecast bucket-setup --create)"
        )
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationHeaderMalformed", "ExpiredToken"):
        return f"S3 refused the credentials ({code}): check SURECAST_S3_ACCESS_KEY_ID and SURECAST_S3_SECRET_ACCESS_KEY"
    if code in ("AccessDenied", "403"):
        return (
            f"the credentials may not write to s3://{s3.bucket}/{s3.prefix}/ (AccessDenied): "
            "grant them deploy/iam-policy.json, or set SURECAST_S3_BUCKET / SURECAST_S3_PREFIX"
        )
    if code == "RequestTimeTooSkewed":
        return "this PC's clock is more than 15 minutes off: set it (NTP)"
    return f"S3 answered the probe with {code}: check SURECAST_S3_ENDPOINT_URL and SURECAST_S3_BUCKET"


def has_credentials(s3: S3Section) -> bool:
    """Credentials in the settings, or anywhere boto3 looks (AWS_*, profiles, instance roles)."""
    if s3.access_key_id and s3.secret_access_key:
        return True
    return boto3.session.Session().get_credentials() is not None


def preflight(s3: S3Section, clock: Callable[[], float] = time.time) -> list[str]:
    """Problems with the S3 destination, one line each; empty when a probe object was written and removed."""
    if not has_credentials(s3):
        return [
            "no S3 credentials found: set SURECAST_S3_ACCESS_KEY_ID and SURECAST_S3_SECRET_ACCESS_KEY "
            "(or AWS_ACCESS_KEY_ID / a profile)"
        ]
    client = make_s3_client(s3, attempts=1, timeouts=(3.0, 5.0))
    key = "/".join(p for p in (s3.prefix, PROBE_DIR, f"{socket.gethostname()}-{os.getpid()}") if p)
    problems: list[str] = []
    date: str | None = None
    try:
        resp = client.put_object(
            Bucket=s3.bucket,
            Key=key,
            Body=PROBE_BODY,
            ContentMD5=base64.b64encode(hashlib.md5(PROBE_BODY).digest()).decode(),
        )
        date = resp["ResponseMetadata"].get("HTTPHeaders", {}).get("date")
        client.delete_object(Bucket=s3.bucket, Key=key)
    except bce.ClientError as exc:
        meta = exc.response.get("ResponseMetadata", {})
        date = meta.get("HTTPHeaders", {}).get("date")
        code = str(exc.response.get("Error", {}).get("Code") or meta.get("HTTPStatusCode", "no answer"))
        if exc.operation_name == "DeleteObject":  # written but not removed: the probe stays, harmless
            log.info("preflight probe %s written but not removed (%s)", key, code)
        else:
            problems.append(client_problem(code, s3))
    except (bce.BotoCoreError, OSError) as exc:
        where = s3.endpoint_url or "AWS"
        problems.append(
            f"S3 at {where} is unreachable ({type(exc).__name__}): uploads wait and retry; "
            "check the uplink, or SURECAST_S3_ENDPOINT_URL"
        )
    skew = clock_problem(date, clock())
    if skew:
        problems.append(skew)
    return problems
