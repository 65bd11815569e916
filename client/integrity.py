"""Which checksum the origin published for an object, and whether a body matches it. Pure.

The uploader stores every object's MD5 as object metadata ``md5``: S3 and CDNs serve it as the
``x-amz-meta-md5`` header, the S3 API returns it in ``Metadata``. Single-PUT objects also have an ETag
equal to the MD5; a multipart ETag (``<hex>-<parts>``), a weak one (``W/``) or a web server's own
ETag format is not an MD5 of the body, so it is never used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from core.client_settings import Verify
from core.files import md5_hex

_MD5_HEX = re.compile(r"^[0-9a-f]{32}$")

Source = Literal["metadata", "etag"]


@dataclass(frozen=True)
class Published:
    md5: str
    source: Source


def etag_md5(etag: str | None) -> str | None:
    """The MD5 an ETag states, or None when the ETag is not a plain MD5."""
    if not etag:
        return None
    tag = etag.strip()
    if tag.startswith(("W/", "w/")):
        return None
    tag = tag.strip('"').lower()
    return tag if _MD5_HEX.match(tag) else None


def published_md5(metadata_md5: str | None, etag: str | None, verify: Verify = "auto") -> Published | None:
    """The checksum to verify against: object metadata first, then (``auto``) a plain-MD5 ETag."""
    if verify == "off":
        return None
    if metadata_md5 and _MD5_HEX.match(metadata_md5.strip().lower()):
        return Published(metadata_md5.strip().lower(), "metadata")
    if verify == "auto":
        md5 = etag_md5(etag)
        if md5:
            return Published(md5, "etag")
    return None


def mismatch(body: bytes, published: Published | None) -> str | None:
    """Why ``body`` is not the published object, or None when it is (or nothing was published)."""
    if published is None:
        return None
    got = md5_hex(body)
    if got == published.md5:
        return None
    return f"MD5 {got} of {len(body)} bytes differs from the published {published.md5} ({published.source})"
