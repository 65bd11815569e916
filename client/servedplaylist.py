"""The live media playlist the LAN re-serve publishes. Pure.

Local names are derived from the media sequence number (never from remote URIs), gaps stay gaps
(EXT-X-GAP keeps sequence numbers aligned), and EXT-X-DISCONTINUITY-SEQUENCE counts the breaks that
have left the window, as RFC 8216 6.2.2 requires.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

SEGMENT_TYPES = {".ts": "video/mp2t", ".m4s": "video/iso.segment", ".mp4": "video/mp4", ".aac": "audio/aac"}


@dataclass(frozen=True)
class ServedEntry:
    seq: int
    name: str
    duration: float
    gap: bool
    discontinuity: bool
    init_name: str | None = None


def local_name(prefix: str, seq: int, uri: str) -> str:
    """``seg_<seq>.ts``: the remote extension if it is a media type we serve, else ``.ts``."""
    ext = posixpath.splitext(urlsplit(uri).path)[1].lower()
    return f"{prefix}_{seq}{ext if ext in SEGMENT_TYPES else '.ts'}"


def content_type(name: str) -> str:
    return SEGMENT_TYPES.get(posixpath.splitext(name)[1].lower(), "application/octet-stream")


def render_served_playlist(entries: Sequence[ServedEntry], discontinuity_sequence: int, ended: bool) -> str:
    """A live (or, once ``ended``, finished) media playlist of ``entries``."""
    target = max([1, *(math.floor(e.duration + 0.5) for e in entries)])
    has_gap = any(e.gap for e in entries)
    version = 8 if has_gap else 6 if any(e.init_name for e in entries) else 3
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", f"#EXT-X-TARGETDURATION:{target}"]
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{entries[0].seq if entries else 0}")
    if discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")
    current_map: str | None = None
    for e in entries:
        if e.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if e.init_name and e.init_name != current_map:
            lines.append(f'#EXT-X-MAP:URI="{e.init_name}"')
            current_map = e.init_name
        lines.append(f"#EXTINF:{e.duration:.3f},")
        if e.gap:
            lines.append("#EXT-X-GAP")
        lines.append(e.name)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
