"""GET one object from the origin: a public HTTP(S) URL or ``s3://bucket/key`` through the S3 API.

This is the one place where urllib3 and botocore errors become the client's own (see client.errors),
with the cause kept. Retries are not done here: the fetcher owns them, with backoff and deadlines.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urljoin, urlsplit

import urllib3
from botocore import exceptions as bce

from client.errors import ClientError, Forbidden, Missing, StreamNotFound, TransientError, Unresolvable
from core.contract import MD5_HEADER, MD5_METADATA

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

USER_AGENT = "surecast-play/0.1"
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Fetched:
    """An object's body and what the origin published about it."""

    url: str  # after redirects: relative URIs resolve against this
    body: bytes
    md5_metadata: str | None
    etag: str | None


class Origin(Protocol):
    def get(self, url: str, revalidate: bool = False) -> Fetched:
        """The object at ``url``; ``revalidate`` asks caches in between for a fresh copy."""
        ...

    def close(self) -> None: ...


def check_url(url: str) -> str:
    """``url`` if the client can read it, else ValueError saying what is accepted."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    if parts.scheme == "s3" and parts.netloc and parts.path.strip("/"):
        return url
    raise ValueError(f"{url!r} is not a stream address: use http(s)://host/path.m3u8 or s3://bucket/key.m3u8")


class HttpOrigin:
    """Public objects over HTTP(S): a bucket website or endpoint, a CDN, any web server."""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        retries = urllib3.Retry(total=MAX_REDIRECTS, connect=0, read=0, status=0, other=0, redirect=MAX_REDIRECTS)
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=retries,
            # Checksums are of the stored bytes: no transfer compression.
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        )

    def get(self, url: str, revalidate: bool = False) -> Fetched:
        headers = {"Cache-Control": "no-cache"} if revalidate else None
        with _http_errors(url):
            resp = self._pool.request("GET", url, headers=headers, preload_content=True)
        if resp.status >= 300:
            raise _status_error(url, resp.status)
        return Fetched(_final_url(url, resp), resp.data, resp.headers.get(MD5_HEADER), resp.headers.get("ETag"))

    def close(self) -> None:
        self._pool.clear()


def _final_url(url: str, resp: urllib3.BaseHTTPResponse) -> str:
    """The address that answered, after redirects: relative URIs in a playlist resolve against it."""
    final = url
    for step in resp.retries.history if resp.retries else ():
        if step.redirect_location:
            final = urljoin(final, step.redirect_location)
    return final


@contextmanager
def _http_errors(url: str) -> Iterator[None]:
    try:
        yield
    except urllib3.exceptions.NameResolutionError as exc:
        raise Unresolvable(f"{url}: host {urlsplit(url).hostname} does not resolve") from exc
    except urllib3.exceptions.MaxRetryError as exc:  # too many redirects, or a connect error it wraps
        reason = exc.reason
        if isinstance(reason, urllib3.exceptions.NameResolutionError):
            raise Unresolvable(f"{url}: host {urlsplit(url).hostname} does not resolve") from exc
        raise TransientError(f"{url}: {_describe(reason or exc)}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransientError(f"{url}: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    # NewConnectionError is a subclass of ConnectTimeoutError: test it first.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return "connect timed out"
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return "no answer (read timed out)"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "connection reset or cut mid-answer"
    return type(exc).__name__


def _status_error(url: str, status: int) -> ClientError:
    if status in (401, 403):
        return Forbidden(
            f"{url}: access denied (HTTP {status}): the object is not public; "
            "make it readable (surecast bucket-setup --public-read) or use s3://bucket/key with credentials"
        )
    if status in (404, 410):
        return Missing(f"{url}: not found (HTTP {status})")
    if status in (408, 425, 429) or status >= 500:
        return TransientError(f"{url}: HTTP {status}")
    return StreamNotFound(f"{url}: the origin refused the request (HTTP {status})")


_S3_MISSING = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_S3_DENIED = {"AccessDenied", "403", "401", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}


class S3Origin:
    """Objects of a private bucket through the S3 API, with the settings' endpoint and credentials."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def get(self, url: str, revalidate: bool = False) -> Fetched:
        parts = urlsplit(url)
        bucket, key = parts.netloc, parts.path.lstrip("/")
        with _s3_errors(url):
            resp = self._client.get_object(Bucket=bucket, Key=key)
            body = resp["Body"].read()
        return Fetched(url, body, resp.get("Metadata", {}).get(MD5_METADATA), resp.get("ETag"))

    def close(self) -> None:
        self._client.close()


@contextmanager
def _s3_errors(url: str) -> Iterator[None]:
    try:
        yield
    except bce.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _S3_MISSING:
            raise Missing(f"{url}: not found ({code})") from exc
        if code in _S3_DENIED:
            raise Forbidden(f"{url}: access denied ({code}): check SURECAST_S3_* credentials and policy") from exc
        if status >= 500 or code in ("SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError"):
            raise TransientError(f"{url}: {code or status}") from exc
        raise StreamNotFound(f"{url}: the S3 server refused the request ({code or status})") from exc
    except bce.NoCredentialsError as exc:
        raise Forbidden(f"{url}: no S3 credentials: set SURECAST_S3_ACCESS_KEY_ID and _SECRET_ACCESS_KEY") from exc
    except (bce.EndpointConnectionError, bce.ConnectTimeoutError) as exc:
        raise TransientError(f"{url}: cannot connect to the S3 endpoint") from exc
    except (
        bce.ReadTimeoutError,
        bce.ResponseStreamingError,
        bce.ConnectionClosedError,
        bce.IncompleteReadError,
    ) as exc:
        raise TransientError(f"{url}: no answer or cut mid-answer ({type(exc).__name__})") from exc
    except (bce.HTTPClientError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransientError(f"{url}: {type(exc).__name__}") from exc
    except bce.BotoCoreError as exc:
        raise StreamNotFound(f"{url}: {exc}") from exc
