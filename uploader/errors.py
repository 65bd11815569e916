"""Errors of the uploader, split by what the caller should do.

    UploadError (a core.errors.SurecastError)
    ├── RetryableError          retry with backoff, forever: the cause is expected to pass
    │   ├── ConnectionLost      connection refused/reset/closed, timeouts, incomplete reads
    │   ├── Throttled           500, 503 SlowDown, RequestTimeout and the like
    │   ├── Suspect             what a mangled request or a middlebox gets (SignatureDoesNotMatch,
    │   │                       InvalidRequest, a bare 4xx, an HTML page): retried a few times, then failed
    │   ├── IntegrityError      what landed differs from the local file (ETag, size, checksum), or the
    │   │                       server refused the body because it did not match its Content-MD5 or
    │   │                       checksum (BadDigest): the bytes were corrupted on the way
    │   └── UploadVanished      the multipart upload being completed is gone (a twin delivery completed
    │                           it, or it was aborted): forget it; the next attempt checks the object
    └── PermanentError          mark the file failed, keep it on disk, retry it on a slow schedule
        ├── AccessDenied        credentials rejected or not allowed
        ├── NoSuchBucket        the bucket does not exist
        ├── LocalFileError      the spool file is missing or changed since it was journaled
        ├── UnsafePath          the payload names a file outside the spool
        └── InvalidPayload      the task's payload is not an UploadJob

botocore errors are translated to these in exactly one place, ``s3_errors()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore import exceptions as bce
from urllib3 import exceptions as u3e

from core.errors import SurecastError


class UploadError(SurecastError):
    """Root of every error the uploader raises on purpose."""


class RetryableError(UploadError):
    pass


def reason_of(exc: UploadError, key: str) -> str:
    """What went wrong, without the key the message starts with: what the journal records (and status
    groups files by), so that each line names its key once."""
    return str(exc).removeprefix(f"{key}: ")


class ConnectionLost(RetryableError):
    pass


class Throttled(RetryableError):
    pass


class IntegrityError(RetryableError):
    pass


class UploadVanished(RetryableError):
    pass


class Suspect(RetryableError):
    """An answer that a request corrupted in transit, or a captive portal, produces as well as a real fault."""


class PermanentError(UploadError):
    pass


class AccessDenied(PermanentError):
    pass


class NoSuchBucket(PermanentError):
    pass


class LocalFileError(PermanentError):
    pass


class UnsafePath(PermanentError):
    pass


class InvalidPayload(PermanentError):
    pass


_THROTTLE_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "IncompleteBody",
    "RequestTimeoutException",
    "OperationAborted",
}
# The server compared the body with its Content-MD5 or checksum header and they differ.
_DIGEST_CODES = {"BadDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch"}
_DENIED_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
    "AccountProblem",
}
# A byte flipped in a request's headers, or an answer from something that is not S3, looks like these.
_SUSPECT_CODES = {
    "SignatureDoesNotMatch",
    "InvalidRequest",
    "InvalidArgument",
    "InvalidDigest",
    "MalformedXML",
    "MalformedDate",
    "AuthorizationHeaderMalformed",
    "MissingContentLength",
}
_CONNECTION_ERRORS = (
    bce.EndpointConnectionError,
    bce.ConnectionClosedError,
    bce.ReadTimeoutError,
    bce.ConnectTimeoutError,
    bce.IncompleteReadError,
    bce.ResponseStreamingError,
    bce.HTTPClientError,
    u3e.ProtocolError,
    u3e.ReadTimeoutError,
    ConnectionError,
    TimeoutError,
)


def translate(exc: BaseException, key: str) -> UploadError | None:
    """Map a botocore/urllib3 error to our tree; None if it is not one we know how to classify."""
    if isinstance(exc, bce.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        text = f"{key}: S3 said {code or status}: {err.get('Message', '')}".rstrip(": ")
        if code == "NoSuchBucket":
            return NoSuchBucket(text)
        if code in _DIGEST_CODES:
            return IntegrityError(f"{text} (the body was corrupted on the way; the server refused it)")
        if code in _DENIED_CODES:
            return AccessDenied(text)
        if code in _THROTTLE_CODES or status == 429 or status >= 500:
            return Throttled(text)
        if code in _SUSPECT_CODES or (400 <= status < 500 and (not code or code.isdigit())):
            # a bare 4xx has no S3 error body: a HEAD, or an answer from a captive portal or proxy
            return Suspect(text)
        if 400 <= status < 500:
            return PermanentError(text)
        if 300 <= status < 400:
            return PermanentError(f"{text} (a redirect: is SURECAST_S3_REGION or SURECAST_S3_ENDPOINT_URL right?)")
        return None
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return AccessDenied(f"{key}: no usable AWS credentials ({exc})")
    if isinstance(exc, _CONNECTION_ERRORS):
        return ConnectionLost(f"{key}: {type(exc).__name__}: {exc}")
    return None


@contextmanager
def s3_errors(key: str) -> Iterator[None]:
    """Translate botocore errors raised inside the block, keeping the original as the cause."""
    try:
        yield
    except UploadError:
        raise
    except Exception as exc:
        mapped = translate(exc, key)
        if mapped is None:
            raise
        raise mapped from exc
