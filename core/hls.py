"""The HLS model (RFC 8216): one renderer and one parser, shared by the encoder and the viewer's client. Pure.

The encoder renders the remote playlists from its own record of the event (never by copying FFmpeg's),
and reads FFmpeg's local playlist with the parser; the client parses what the bucket serves and renders
the playlist of its LAN re-serve. Parsing is done by the `m3u8` package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import m3u8

EXTINF_DECIMALS = 3  # EXTINF to the millisecond


@dataclass(frozen=True)
class MediaSegment:
    """One segment line of a media playlist, with the tags that precede it."""

    uri: str
    duration: float
    discontinuity: bool = False
    gap: bool = False
    init_uri: str | None = None  # EXT-X-MAP of an fMP4 segment
    # EXT-X-PROGRAM-DATE-TIME: when its first frame was captured, seconds since the epoch (the encoder's clock)
    program_time: float | None = None


@dataclass(frozen=True)
class MediaPlaylist:
    segments: tuple[MediaSegment, ...]
    target_duration: int
    media_sequence: int = 0
    discontinuity_sequence: int = 0
    vod: bool = False  # EXT-X-PLAYLIST-TYPE:VOD; implies ended
    ended: bool = False  # EXT-X-ENDLIST


@dataclass(frozen=True)
class Variant:
    """One rendition as a master playlist announces it."""

    uri: str
    bandwidth: int  # the peak: BANDWIDTH
    width: int | None = None
    height: int | None = None
    framerate: float | None = None
    codecs: str | None = None
    # The destination it is read from, where a master names several (HLS Content Steering's attribute:
    # hls.js groups the variants by it, one group per destination).
    pathway: str | None = None
    average_bandwidth: int | None = None  # AVERAGE-BANDWIDTH


@dataclass(frozen=True)
class MasterPlaylist:
    variants: tuple[Variant, ...]


Playlist = MasterPlaylist | MediaPlaylist


def target_duration(durations: Sequence[float], floor: int) -> int:
    """EXT-X-TARGETDURATION: every EXTINF rounded to the nearest integer must fit (RFC 8216 4.3.3.1)."""
    return max([floor, *(math.floor(d + 0.5) for d in durations)])


def written_duration(seconds: float) -> float:
    """A segment's duration as its EXTINF says it (to the millisecond): what a player divides its size by, so
    what a measured BANDWIDTH must be worked out from."""
    return float(f"{seconds:.{EXTINF_DECIMALS}f}")


def program_date_time(seconds: float) -> str:
    """EXT-X-PROGRAM-DATE-TIME's value: ISO 8601 in UTC to the millisecond (RFC 8216 4.3.2.6)."""
    moment = datetime.fromtimestamp(round(seconds, 3), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _version(segments: Sequence[MediaSegment]) -> int:
    """The lowest EXT-X-VERSION for the tags used: GAP needs 8, MAP in a media playlist 6."""
    if any(s.gap for s in segments):
        return 8
    return 6 if any(s.init_uri for s in segments) else 3


def render_media_playlist(playlist: MediaPlaylist) -> str:
    """The text of a media playlist."""
    segments = playlist.segments
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{_version(segments)}", f"#EXT-X-TARGETDURATION:{playlist.target_duration}"]
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{playlist.media_sequence}")
    if playlist.discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{playlist.discontinuity_sequence}")
    if playlist.vod:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    current_map: str | None = None
    for segment in segments:
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if segment.init_uri and segment.init_uri != current_map:
            lines.append(f'#EXT-X-MAP:URI="{segment.init_uri}"')
            current_map = segment.init_uri
        if segment.program_time is not None:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(segment.program_time)}")
        lines.append(f"#EXTINF:{segment.duration:.{EXTINF_DECIMALS}f},")
        if segment.gap:
            lines.append("#EXT-X-GAP")
        lines.append(segment.uri)
    if playlist.vod or playlist.ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def render_master_playlist(variants: Sequence[Variant]) -> str:
    """The multivariant playlist, in the order given (highest rung first, by convention)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        attributes = [f"BANDWIDTH={v.bandwidth}"]
        if v.average_bandwidth:
            attributes.append(f"AVERAGE-BANDWIDTH={v.average_bandwidth}")
        if v.width and v.height:
            attributes.append(f"RESOLUTION={v.width}x{v.height}")
        if v.framerate:
            attributes.append(f"FRAME-RATE={v.framerate:.3f}")
        if v.codecs:
            attributes.append(f'CODECS="{v.codecs}"')
        if v.pathway:
            attributes.append(f'PATHWAY-ID="{v.pathway}"')
        lines.append(f"#EXT-X-STREAM-INF:{','.join(attributes)}")
        lines.append(v.uri)
    return "\n".join(lines) + "\n"


def parse_playlist(text: str) -> Playlist:
    """A master or media playlist as written (URIs as they stand); ValueError if it is malformed.

    A last EXTINF without its URI line (a file caught mid-write) is left out.
    """
    try:
        parsed = m3u8.loads(text)
    except (ValueError, TypeError, AttributeError) as exc:  # the parser's errors on malformed tags
        raise ValueError(f"malformed HLS playlist ({exc})") from exc
    if parsed.is_variant:
        return MasterPlaylist(tuple(_variant(pl) for pl in parsed.playlists))
    segments = tuple(
        MediaSegment(
            uri=seg.uri,
            duration=float(seg.duration or 0.0),
            discontinuity=bool(seg.discontinuity),
            gap=bool(seg.gap_tag),
            init_uri=seg.init_section.uri if seg.init_section is not None else None,
            program_time=seg.current_program_date_time.timestamp() if seg.current_program_date_time else None,
        )
        for seg in parsed.segments
        if seg.uri
    )
    return MediaPlaylist(
        segments,
        target_duration=int(parsed.target_duration or 0),
        media_sequence=int(parsed.media_sequence or 0),
        discontinuity_sequence=int(parsed.discontinuity_sequence or 0),
        vod=str(parsed.playlist_type or "").lower() == "vod",
        ended=bool(parsed.is_endlist),
    )


def _variant(pl: m3u8.Playlist) -> Variant:
    info = pl.stream_info
    width, height = info.resolution if info.resolution else (None, None)
    rate = float(info.frame_rate) if info.frame_rate else None
    pathway = getattr(info, "pathway_id", None) or None
    average = int(info.average_bandwidth) if info.average_bandwidth else None
    return Variant(pl.uri, int(info.bandwidth or 0), width, height, rate, info.codecs or None, pathway, average)
