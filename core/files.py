"""Spool files: hash them in one streaming pass, and write them so that a power cut never leaves half a file.

The MD5 is what S3 computes as the ETag of a single PUT, so it is what every integrity test compares;
it is not used as a security hash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - the S3 ETag, not a security hash


def chunks(handle: BinaryIO, limit: int = -1) -> Iterator[bytes]:
    """Read ``handle`` at most CHUNK bytes at a time, up to ``limit`` bytes (-1: to the end)."""
    remaining = limit
    while remaining != 0:
        chunk = handle.read(CHUNK if remaining < 0 else min(CHUNK, remaining))
        if not chunk:
            return
        if remaining > 0:
            remaining -= len(chunk)
        yield chunk


def file_md5(path: Path, fsync: bool = False) -> tuple[int, str]:
    """Size and MD5 of a complete file; with ``fsync`` flushed to disk first, so what is journaled survives."""
    md5 = hashlib.md5()  # noqa: S324 - the S3 ETag
    size = 0
    with path.open("rb") as handle:
        if fsync:
            os.fsync(handle.fileno())
        for chunk in chunks(handle):
            md5.update(chunk)
            size += len(chunk)
    return size, md5.hexdigest()


def copy_with_md5(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` (fsynced), hashing as it goes; return the MD5."""
    md5 = hashlib.md5()  # noqa: S324 - the S3 ETag
    with source.open("rb") as src, target.open("wb") as dst:
        for chunk in chunks(src):
            md5.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return md5.hexdigest()


def write_durably(path: Path, data: bytes, sync: bool = True) -> None:
    """Write a file in one piece: temporary name, fsync (unless ``sync`` is off), rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())
    os.replace(tmp, path)
