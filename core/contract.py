"""The contract between whoever queues a file (encoder, `surecast send`, reconciler) and the workers.

Publishers send tasks by ``UPLOAD_TASK`` name with ``UploadJob.model_dump(mode="json")`` as keyword
arguments; they never import the task module. JSON serialization only.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator

UPLOAD_TASK = "surecast.upload"
# One part of a file above the multipart threshold: every worker process can carry parts of one file.
UPLOAD_PART_TASK = "surecast.upload_part"
# The destination of SURECAST_S3_*; backups have names of their own (core.destinations).
PRIMARY = "primary"

# Celery queue priorities with the Redis transport: lower number = served first. Redis has no native
# priorities: kombu emulates them with one list per step.
PRIORITY_PLAYLIST = 0
PRIORITY_LIVE = 3
PRIORITY_BACKFILL = 6
PRIORITY_STEPS = [PRIORITY_PLAYLIST, PRIORITY_LIVE, PRIORITY_BACKFILL, 9]

_MD5_HEX = re.compile(r"^[0-9a-f]{32}$")
# S3 allows more, but keys we write stay in a portable, URL-safe set.
_KEY_CHARS = re.compile(r"^[A-Za-z0-9!_.*'()/=+,@-]+$")
MAX_KEY_BYTES = 1024
_EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


# HLS content types, by file extension (without the dot); shared by the encoder, `surecast send` and the
# viewer's LAN re-serve.
PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"
CONTENT_TYPES = {
    "m3u8": PLAYLIST_CONTENT_TYPE,
    "ts": "video/mp2t",
    "m4s": "video/iso.segment",
    "mp4": "video/mp4",
    "aac": "audio/aac",
}
# Playlists are re-written under one key: caches must revalidate. Segments and sent files never change.
PLAYLIST_CACHE_CONTROL = "no-cache"
IMMUTABLE_CACHE_CONTROL = "max-age=31536000, immutable"
# The viewers' page and the channel's state are re-written under one key too; a cache (a CDN in front of the
# bucket, absorbing a crowd) may keep them briefly: a started or ended event shows within seconds, a new
# page within a minute (its scripts are in a new folder, immutable, so old and new never mix).
PAGE_CACHE_CONTROL = "max-age=60"
CHANNEL_STATE_CACHE_CONTROL = "max-age=5"

# Object metadata key holding each file's MD5, so decoding clients can verify what they download
# (served as the ``x-amz-meta-md5`` header by S3 and by CDNs in front of it).
MD5_METADATA = "md5"
MD5_HEADER = f"x-amz-meta-{MD5_METADATA}"


class FileKind(StrEnum):
    SEGMENT = "segment"
    PLAYLIST = "playlist"
    OTHER = "other"


def priority_for(kind: FileKind, backfill: bool = False) -> int:
    """Playlists first, then live segments, then backfill and everything else."""
    if kind == FileKind.PLAYLIST:
        return PRIORITY_PLAYLIST
    if kind == FileKind.SEGMENT and not backfill:
        return PRIORITY_LIVE
    return PRIORITY_BACKFILL


def content_type_of(name: str) -> str | None:
    """The HLS content type of a file name by its extension, or None if it is not an HLS file."""
    return CONTENT_TYPES.get(name.rsplit(".", 1)[-1].lower()) if "." in name else None


def check_object_key(key: str) -> str:
    """Return ``key`` if it is a safe S3 object key, else raise ValueError saying why."""
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"object key must be 1-{MAX_KEY_BYTES} bytes")
    if key.startswith("/") or "//" in key:
        raise ValueError(f"object key {key!r} must not start with '/' or contain '//'")
    if any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"object key {key!r} must not contain '.' or '..' segments")
    if not _KEY_CHARS.match(key):
        raise ValueError(f"object key {key!r} has characters outside A-Z a-z 0-9 !_.*'()/=+,@-")
    return key


def check_event_id(event_id: str) -> str:
    """Return ``event_id`` if it can name an event's folder in keys and paths, else raise ValueError."""
    if not _EVENT_ID.match(event_id):
        raise ValueError(
            f"event id {event_id!r} must be 1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return event_id


def check_spool_path(path: str) -> str:
    """Return ``path`` if it is a relative path that stays inside the spool, else raise ValueError."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or "\\" in path or "\x00" in path:
        raise ValueError(f"spool path {path!r} must be relative to the spool directory")
    if any(part == ".." for part in pure.parts):
        raise ValueError(f"spool path {path!r} must not contain '..'")
    return path


class _SpoolFile(BaseModel):
    """What a file's task and its parts' tasks both carry: the file in the spool, its key, the version and
    whole-file MD5 the journal knows it by, and its destination; each checked the same way."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="path relative to the spool directory")
    key: str = Field(description="object key in the bucket, prefix included")
    md5: str = Field(description="hex MD5 of the whole file")
    # Playlists are re-written under one key; a task carrying an older version is stale and skipped.
    version: int = Field(default=0, ge=0)
    # Which destination's bucket (and journal) the file is for.
    destination: str = PRIMARY

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_spool_path(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return check_object_key(value)

    @field_validator("destination")
    @classmethod
    def _destination(cls, value: str) -> str:
        return check_event_id(value)

    @field_validator("md5")
    @classmethod
    def _md5(cls, value: str) -> str:
        return check_md5_hex(value)


def check_md5_hex(value: str) -> str:
    if not _MD5_HEX.match(value):
        raise ValueError("md5 must be 32 lowercase hex digits")
    return value


class UploadJob(_SpoolFile):
    """One file to deliver: where it lies in the spool, where it goes, and what it must hash to."""

    size: int = Field(ge=0)
    content_type: str = "application/octet-stream"
    cache_control: str = "no-cache"
    kind: FileKind = FileKind.OTHER

    @field_validator("content_type", "cache_control")
    @classmethod
    def _header(cls, value: str) -> str:
        if any(c in value for c in "\r\n\x00") or len(value) > 256:
            raise ValueError("header value must be one line of at most 256 characters")
        return value


class PartJob(_SpoolFile):
    """One part of a multipart upload to send: which file (as journaled), which upload, which bytes, and
    what they must hash to (the whole file was hashed when it was split)."""

    upload_id: str = Field(min_length=1, max_length=1024)
    part: int = Field(ge=1, le=10_000)
    first_byte: int = Field(ge=0)
    size: int = Field(ge=0)
    part_md5: str = Field(description="hex MD5 of this part's bytes")
    part_sha256: str | None = Field(default=None, description="base64 SHA-256 of the part, where one is kept")

    @field_validator("part_md5")
    @classmethod
    def _part_md5(cls, value: str) -> str:
        return check_md5_hex(value)
