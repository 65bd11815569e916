"""Render the remote HLS playlists (RFC 8216) the viewers fetch. Pure.

The encoder renders these from its own record of the event and the journal's verified state, never by
copying FFmpeg's playlist, so a listed segment is always already in the bucket (gaps are marked).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from encoder.timeline import Entry

PLAYLIST_CACHE_CONTROL = "no-cache"
SEGMENT_CACHE_CONTROL = "max-age=31536000, immutable"


@dataclass(frozen=True)
class Variant:
    """One rendition as the master playlist announces it."""

    uri: str
    bandwidth: int
    width: int
    height: int
    framerate: float
    codecs: str


def target_duration(durations: Sequence[float], floor: int) -> int:
    """EXT-X-TARGETDURATION: every EXTINF rounded to the nearest integer must fit (RFC 8216 4.3.3.1)."""
    return max([floor, *(math.floor(d + 0.5) for d in durations)])


def render_media_playlist(
    entries: Sequence[Entry],
    *,
    target: int,
    media_sequence: int = 0,
    discontinuity_sequence: int = 0,
    vod: bool = False,
    ended: bool = False,
) -> str:
    """A media playlist; ``vod`` adds EXT-X-PLAYLIST-TYPE:VOD and implies EXT-X-ENDLIST."""
    has_gap = any(e.gap for e in entries)
    has_map = any(e.segment.init_name for e in entries)
    version = 8 if has_gap else 6 if has_map else 3
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", f"#EXT-X-TARGETDURATION:{target}"]
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}")
    if discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")
    if vod:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    current_map: str | None = None
    for entry in entries:
        segment = entry.segment
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if segment.init_name and segment.init_name != current_map:
            lines.append(f'#EXT-X-MAP:URI="{segment.init_name}"')
            current_map = segment.init_name
        lines.append(f"#EXTINF:{segment.duration:.3f},")
        if entry.gap:
            lines.append("#EXT-X-GAP")
        lines.append(segment.name)
    if vod or ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def render_master_playlist(variants: Sequence[Variant]) -> str:
    """The multivariant playlist of the ladder, highest rung first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.bandwidth},RESOLUTION={v.width}x{v.height},"
            f'FRAME-RATE={v.framerate:.3f},CODECS="{v.codecs}"'
        )
        lines.append(v.uri)
    return "\n".join(lines) + "\n"
