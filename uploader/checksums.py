"""ETag and checksum maths for the integrity test. Pure: works on bytes and digests, no I/O.

Single PUT: the ETag is the hex MD5 of the body. Multipart: the MD5 of the concatenated binary part
MD5s, then ``-N``. SSE-KMS/SSE-C ETags are neither; there we compare the stored SHA-256 checksum, which
for multipart is the SHA-256 of the concatenated binary part SHA-256s, then ``-N``.
"""

from __future__ import annotations

import base64
import hashlib
import re

_PLAIN_MD5_ETAG = re.compile(r"^[0-9a-f]{32}(-\d+)?$")


def strip_etag(etag: str) -> str:
    """ETags come quoted from S3; compare them bare."""
    return etag.strip().strip('"').lower()


def content_md5(hex_md5: str) -> str:
    """The ``Content-MD5`` header value (base64 of the binary digest) for a hex MD5."""
    return base64.b64encode(bytes.fromhex(hex_md5)).decode()


def multipart_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 gives a multipart object whose parts had these binary MD5s, in order."""
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


def composite_sha256(part_sha256s: list[bytes]) -> str:
    """The base64 composite SHA-256 S3 reports for a multipart object, with its ``-N`` suffix."""
    digest = hashlib.sha256(b"".join(part_sha256s)).digest()
    return f"{base64.b64encode(digest).decode()}-{len(part_sha256s)}"


def sha256_b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def etag_is_md5(etag: str, server_side_encryption: str | None) -> bool:
    """Whether an ETag can be compared with MD5s (not with SSE-KMS / SSE-C, or non-hex forms)."""
    if server_side_encryption in ("aws:kms", "aws:kms:dsse"):
        return False
    return bool(_PLAIN_MD5_ETAG.match(strip_etag(etag)))
