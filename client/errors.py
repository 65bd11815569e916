"""Errors of the decoding client, split by what the caller should do.

    ClientError (a core.errors.SurecastError)
    ├── StreamNotFound      wrong URL: no such host, nothing at that address (HTTP 404), another 4xx
    ├── Forbidden           HTTP 401/403 or S3 AccessDenied: private object; use s3:// with credentials
    ├── NotHLS              the URL answered, but not with an HLS playlist
    ├── OriginUnreachable   the origin gave no answer within a bounded time
    ├── StreamStale         the live playlist stopped changing without EXT-X-ENDLIST
    ├── IntegrityFailure    a segment kept failing its MD5 check; names the segment
    ├── OutputError         a local output cannot work: no ffplay or FFmpeg, file not writable, port taken
    ├── Stopped             playback was stopped (Ctrl-C, SIGTERM, ffplay closed) while waiting
    └── TransientError      one request failed in a way worth retrying (timeout, reset, 5xx)
        ├── Missing         HTTP 404 / NoSuchKey: a wrong URL at start, not there yet mid-stream
        └── Unresolvable    the host name does not resolve: a wrong URL at start, a DNS hiccup mid-stream

Transport errors (urllib3, botocore) are translated in `client.origin` only, with the cause kept.
"""

from __future__ import annotations

from core.errors import SurecastError


class ClientError(SurecastError):
    """Root of every error the client raises on purpose."""


class StreamNotFound(ClientError):
    pass


class Forbidden(ClientError):
    pass


class NotHLS(ClientError):
    pass


class OriginUnreachable(ClientError):
    pass


class StreamStale(ClientError):
    pass


class IntegrityFailure(ClientError):
    """A segment failed its checksum on every attempt."""

    def __init__(self, segment: str, message: str) -> None:
        super().__init__(message)
        self.segment = segment


class OutputError(ClientError):
    pass


class Stopped(ClientError):
    pass


class TransientError(ClientError):
    pass


class Missing(TransientError):
    pass


class Unresolvable(TransientError):
    pass
