"""Object keys and spool paths of an event. Pure.

Layout (keys under ``SURECAST_S3_PREFIX``, spool paths under ``SURECAST_SPOOL_DIR``)::

    <prefix>/<channel>/master.m3u8               the venue's stable address: the current event's master
    <prefix>/<event>/master.m3u8                 live master playlist (ABR)
    <prefix>/<event>/master_vod.m3u8             VOD master, once the archive is complete
    <prefix>/<event>/<rendition>/live.m3u8       live media playlist, re-written under one key
    <prefix>/<event>/<rendition>/vod.m3u8        VOD media playlist
    <prefix>/<event>/<rendition>/seg_<n>.ts      segments; n only grows within an event
    <prefix>/<event>/<rendition>/init_<n>.mp4    fMP4 init segment of the FFmpeg run starting at n
    <prefix>/<event>/<rendition>/slate_<m>.ts    a slate listed while FFmpeg restarted (m: its place in the list)
    <prefix>/<channel>/index.html, channel.json  the viewers' page and the channel's state (core.destinations)
    <prefix>/_player/<version>/<file>            the page's scripts and styles, one folder per version

    events/<event>/<rendition>/seg_<n>.ts        what FFmpeg writes (same names as the keys)
    events/<event>/<rendition>/ffmpeg.m3u8       FFmpeg's own playlist: the readiness signal, never uploaded
    events/<event>/playlists/<name>.<version>.m3u8   one new file per playlist version, never rewritten
    events/<event>/slate/<rendition>.ts          the event's slate, rendered when it starts
    channels/<channel>/<name>[@<dest>].<version>.<ext>   each version of index.html and channel.json
    channels/_player/<version>/<file>            the page's scripts and styles (every destination sends these)

Segment numbers continue across FFmpeg and encoder restarts, so a key is never written twice.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import PurePosixPath

from core.contract import PRIMARY, check_event_id, check_object_key, check_spool_path
from core.destinations import PLAYER_ASSETS_DIR, channel_master_key

EVENTS_DIR = "events"
CHANNELS_DIR = "channels"
MASTER = "master.m3u8"
MASTER_VOD = "master_vod.m3u8"
LOCAL_PLAYLIST = "ffmpeg.m3u8"
PLAYLISTS_DIR = "playlists"
SLATES_DIR = "slate"  # the event's slate per rendition, copied into the list while FFmpeg restarts
_SEGMENT_NAME = re.compile(r"^seg_(\d+)\.(ts|m4s)$")


def event_id_for(start: datetime) -> str:
    """A readable event id from the start time (UTC, to the second): ``20250131T184500Z``."""
    return start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def segment_extension(segment_type: str) -> str:
    return "m4s" if segment_type == "fmp4" else "ts"


def segment_name(seq: int, segment_type: str) -> str:
    return f"seg_{seq}.{segment_extension(segment_type)}"


def segment_pattern(segment_type: str) -> str:
    """FFmpeg's ``hls_segment_filename`` pattern producing ``segment_name``."""
    return f"seg_%d.{segment_extension(segment_type)}"


def init_name(seq: int) -> str:
    """fMP4 init segment of the FFmpeg run whose first segment is ``seq``: each run gets its own."""
    return f"init_{seq}.mp4"


def slate_name(msn: int) -> str:
    """A slate's file name: numbered by its place in the rendition's list, so each is its own object."""
    return f"slate_{msn}.ts"


def is_slate(name: str) -> bool:
    return PurePosixPath(name).name.startswith("slate_")


def segment_seq(name: str) -> int | None:
    """The number in a segment file name, or None if ``name`` is not one of ours."""
    match = _SEGMENT_NAME.match(PurePosixPath(name).name)
    return int(match.group(1)) if match else None


class EventLayout:
    """Where every file of one event lives, locally and in the bucket."""

    def __init__(self, prefix: str, event_id: str, channel: str = "main") -> None:
        self.event_id = check_event_id(event_id)
        self.channel = check_event_id(channel)
        self.prefix = prefix.strip("/")
        self.key_root = "/".join(p for p in (self.prefix, event_id) if p)
        self.spool_root = f"{EVENTS_DIR}/{event_id}"

    def key(self, relative: str) -> str:
        """The object key of a file named relative to the event folder."""
        return check_object_key(f"{self.key_root}/{relative}")

    def rendition_dir(self, rendition: str) -> str:
        """Spool folder (relative) FFmpeg writes one rendition to."""
        return f"{self.spool_root}/{rendition}"

    def local_playlist(self, rendition: str) -> str:
        return f"{self.rendition_dir(rendition)}/{LOCAL_PLAYLIST}"

    def segment_path(self, rendition: str, name: str) -> str:
        return f"{self.rendition_dir(rendition)}/{name}"

    def segment_key(self, rendition: str, name: str) -> str:
        return self.key(f"{rendition}/{name}")

    def live_key(self, rendition: str) -> str:
        return self.key(f"{rendition}/live.m3u8")

    def vod_key(self, rendition: str) -> str:
        return self.key(f"{rendition}/vod.m3u8")

    def master_key(self, vod: bool = False) -> str:
        return self.key(MASTER_VOD if vod else MASTER)

    def channel_master_key(self) -> str:
        """The venue's stable address, whatever the event (``core.destinations.channel_master_key``)."""
        return channel_master_key(self.prefix, self.channel)

    def channel_uri(self, rendition: str) -> str:
        """A rendition's live playlist relative to the channel's master playlist."""
        return f"../{self.event_id}/{rendition}/live.m3u8"

    def playlist_path(self, key: str, version: int, destination: str = PRIMARY) -> str:
        """A new spool file for each version of the playlist stored under ``key`` (each destination's
        playlists differ: each lists what is verified there)."""
        relative = key[len(self.key_root) + 1 :] if key.startswith(self.key_root + "/") else key
        stem = relative.removesuffix(".m3u8").replace("/", "-")
        if destination != PRIMARY:
            stem = f"{stem}@{destination}"
        return f"{self.spool_root}/{PLAYLISTS_DIR}/{stem}.{version}.m3u8"


def master_uri_from_channel(event_id: str, vod: bool) -> str:
    """An event's live or VOD master playlist relative to its channel's folder (the viewers' page)."""
    return f"../{check_event_id(event_id)}/{MASTER_VOD if vod else MASTER}"


def player_asset_path(version: str, name: str) -> str:
    """Spool path of one script or style of the viewers' page (shared by every destination)."""
    return check_spool_path(f"{CHANNELS_DIR}/{PLAYER_ASSETS_DIR}/{version}/{name}")


def channel_file_path(channel: str, name: str, version: int, destination: str = PRIMARY) -> str:
    """Spool path of one version of a channel's file (``index.html``, ``channel.json``) for one destination."""
    stem, _, extension = name.rpartition(".")
    if destination != PRIMARY:
        stem = f"{stem}@{destination}"
    return check_spool_path(f"{CHANNELS_DIR}/{check_event_id(channel)}/{stem}.{version}.{extension}")


def media_uri(rendition: str, vod: bool = False) -> str:
    """A media playlist's URI relative to the master playlist."""
    return f"{rendition}/{'vod' if vod else 'live'}.m3u8"
