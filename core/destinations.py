"""Destinations: the primary (``SURECAST_S3_*``) and any backups (``SURECAST_BACKUPS``, a JSON list), each
with its own endpoint, bucket, prefix and credentials. Every file is delivered and verified to each one,
independently: its own queue, its own journal file, its own workers and reconciler. Pure. The settings
list them (``Settings.destinations()``) and give a process serving one its view
(``Settings.for_destination(name)``).

    SURECAST_BACKUPS='[{"name": "b2", "endpoint_url": "https://s3.eu-central-003.backblazeb2.com",
                        "bucket": "church-backup", "access_key_id": "...", "secret_access_key": "...",
                        "public_url": "https://cdn.example.org/church-backup"}]'
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import field_validator

from core.contract import PRIMARY, check_event_id, check_object_key
from core.s3_section import S3Section

__all__ = ["PRIMARY", "BackupSection", "Destination", "channel_master_key", "channel_url", "public_base", "queue_for"]


class BackupSection(S3Section):
    """One backup destination: the fields of ``SURECAST_S3_*`` and a name."""

    name: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value == PRIMARY:
            raise ValueError(f"{PRIMARY!r} names the SURECAST_S3_* destination; choose another name")
        return check_event_id(value)


@dataclass(frozen=True)
class Destination:
    name: str
    s3: S3Section
    queue: str

    @property
    def public_base(self) -> str:
        """Where viewers read this destination's objects: SURECAST_S3_PUBLIC_URL (or the backup's
        ``public_url``), else the bucket's path-style address on the endpoint (or on AWS)."""
        return public_base(self.s3)


def public_base(s3: S3Section) -> str:
    if s3.public_url:
        return s3.public_url.rstrip("/")
    if s3.endpoint_url:
        return f"{s3.endpoint_url.rstrip('/')}/{s3.bucket}"
    return f"https://{s3.bucket}.s3.{s3.region}.amazonaws.com"


def channel_master_key(prefix: str, channel: str) -> str:
    """The key of the venue's stable address, whatever the event: the channel's master playlist (an embed
    code never changes). The one place this key is spelled."""
    return check_object_key("/".join(p for p in (prefix.strip("/"), channel, "master.m3u8") if p))


def channel_url(s3: S3Section, channel: str) -> str:
    """The venue's stable viewer address on a destination: its channel's master playlist."""
    return f"{public_base(s3)}/{channel_master_key(s3.prefix, channel)}"


def queue_for(base_queue: str, name: str) -> str:
    """The primary keeps the venue's queue; a backup gets its own beside it."""
    return base_queue if name == PRIMARY else f"{base_queue}-{name}"
