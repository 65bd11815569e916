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

__all__ = [
    "PRIMARY",
    "BackupSection",
    "Destination",
    "channel_master_key",
    "channel_page_key",
    "channel_page_url",
    "channel_state_key",
    "channel_url",
    "player_asset_key",
    "player_asset_uri",
    "public_base",
    "queue_for",
]

# A channel's folder holds its stable master playlist, the viewers' page and the channel's state; the page's
# scripts and styles live beside the channels, one folder per version of the page. An event id or a channel
# never starts with "_", so this folder cannot be taken by one.
CHANNEL_MASTER = "master.m3u8"
CHANNEL_PAGE = "index.html"
CHANNEL_STATE = "channel.json"
PLAYER_ASSETS_DIR = "_player"


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


def _channel_key(prefix: str, channel: str, name: str) -> str:
    return check_object_key("/".join(p for p in (prefix.strip("/"), check_event_id(channel), name) if p))


def channel_master_key(prefix: str, channel: str) -> str:
    """The key of the venue's stable address, whatever the event: the channel's master playlist (an embed
    code never changes). The one place this key is spelled."""
    return _channel_key(prefix, channel, CHANNEL_MASTER)


def channel_page_key(prefix: str, channel: str) -> str:
    """The key of the viewers' page: the one link a venue shares, whatever the event."""
    return _channel_key(prefix, channel, CHANNEL_PAGE)


def channel_state_key(prefix: str, channel: str) -> str:
    """The key of the channel's state for viewers (the current event, live or ended, and the past ones)."""
    return _channel_key(prefix, channel, CHANNEL_STATE)


def player_asset_key(prefix: str, version: str, name: str) -> str:
    """The key of one script or style of the viewers' page, in the folder of its version (never rewritten)."""
    return check_object_key("/".join(p for p in (prefix.strip("/"), PLAYER_ASSETS_DIR, version, name) if p))


def player_asset_uri(version: str, name: str) -> str:
    """The same file as the viewers' page names it: relative, so the page works from any host or sub-path."""
    return f"../{PLAYER_ASSETS_DIR}/{version}/{name}"


def channel_url(s3: S3Section, channel: str) -> str:
    """The venue's stable viewer address on a destination: its channel's master playlist."""
    return f"{public_base(s3)}/{channel_master_key(s3.prefix, channel)}"


def channel_page_url(s3: S3Section, channel: str) -> str:
    """The link to share with viewers on a destination: its channel's page."""
    return f"{public_base(s3)}/{channel_page_key(s3.prefix, channel)}"


def queue_for(base_queue: str, name: str) -> str:
    """The primary keeps the venue's queue; a backup gets its own beside it."""
    return base_queue if name == PRIMARY else f"{base_queue}-{name}"
