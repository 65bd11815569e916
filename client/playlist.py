"""Parse HLS playlists (RFC 8216) with the `m3u8` package and pick a rendition. Pure: no I/O.

URIs are resolved against the playlist's own URL here, for http(s):// and for s3://bucket/key alike,
so the rest of the client only ever sees absolute addresses.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import m3u8

from client.errors import NotHLS

MAX_PLAYLIST_BYTES = 8 * 1024 * 1024
_PREVIEW = 40


@dataclass(frozen=True)
class Variant:
    """One rendition a master playlist announces."""

    name: str
    uri: str
    bandwidth: int
    width: int | None
    height: int | None

    def describe(self) -> str:
        size = f" {self.width}x{self.height}" if self.width and self.height else ""
        return f"{self.name}{size} {self.bandwidth // 1000} kbit/s"


@dataclass(frozen=True)
class MediaEntry:
    """One segment line of a media playlist, with its media sequence number."""

    seq: int
    uri: str
    name: str
    duration: float
    gap: bool
    discontinuity: bool
    init_uri: str | None


@dataclass(frozen=True)
class MasterPlaylist:
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class MediaPlaylist:
    entries: tuple[MediaEntry, ...]
    target_duration: float
    ended: bool

    @property
    def last_seq(self) -> int | None:
        return self.entries[-1].seq if self.entries else None


Playlist = MasterPlaylist | MediaPlaylist


def resolve(base: str, ref: str) -> str:
    """The absolute address of ``ref`` found in the playlist at ``base``."""
    if urlsplit(ref).scheme:
        return ref
    parts = urlsplit(base)
    if parts.scheme != "s3":
        return urljoin(base, ref)
    # urljoin leaves unknown schemes alone: join the key path ourselves.
    folder = posixpath.dirname(parts.path)
    path = posixpath.normpath(ref if ref.startswith("/") else posixpath.join(folder, ref))
    return f"s3://{parts.netloc}/{path.lstrip('/')}"


def segment_name(uri: str) -> str:
    """The last path component of a segment address: how reports name a segment."""
    return posixpath.basename(urlsplit(uri).path) or uri


def decode_playlist(body: bytes, url: str) -> str:
    """The playlist text, or NotHLS naming what came instead."""
    if len(body) > MAX_PLAYLIST_BYTES:
        raise NotHLS(f"{url}: not an HLS playlist ({len(body)} bytes; a playlist is text of a few KB)")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotHLS(f"{url}: not an HLS playlist (binary content)") from None
    if not text.lstrip().startswith("#EXTM3U"):
        start = " ".join(text.split())[:_PREVIEW] or "an empty body"
        raise NotHLS(f"{url}: not an HLS playlist (it does not start with #EXTM3U but with {start!r})")
    return text


def parse_playlist(body: bytes, url: str) -> Playlist:
    """A master or media playlist, with every URI made absolute."""
    text = decode_playlist(body, url)
    try:
        parsed = m3u8.loads(text)
    except (ValueError, TypeError, AttributeError) as exc:  # the parser's errors on malformed tags
        raise NotHLS(f"{url}: malformed HLS playlist ({exc})") from exc
    if parsed.is_variant:
        return MasterPlaylist(tuple(_variant(pl, url) for pl in parsed.playlists))
    entries = []
    first = int(parsed.media_sequence or 0)
    for i, seg in enumerate(parsed.segments):
        uri = resolve(url, seg.uri)
        init = seg.init_section.uri if seg.init_section is not None else None
        entries.append(
            MediaEntry(
                seq=first + i,
                uri=uri,
                name=segment_name(uri),
                duration=float(seg.duration or 0.0),
                gap=bool(seg.gap_tag),
                discontinuity=bool(seg.discontinuity),
                init_uri=resolve(url, init) if init else None,
            )
        )
    target = float(parsed.target_duration or max((e.duration for e in entries), default=2.0) or 2.0)
    return MediaPlaylist(tuple(entries), target, bool(parsed.is_endlist))


def _variant(pl: m3u8.Playlist, base: str) -> Variant:
    uri = resolve(base, pl.uri)
    info = pl.stream_info
    width, height = info.resolution if info.resolution else (None, None)
    return Variant(rendition_name(pl.uri, height), uri, int(info.bandwidth or 0), width, height)


def rendition_name(uri: str, height: int | None) -> str:
    """``180p`` for ``180p/live.m3u8`` (our layout), else ``<height>p``, else the file's stem."""
    folder = posixpath.basename(posixpath.dirname(urlsplit(uri).path))
    if folder:
        return folder
    if height:
        return f"{height}p"
    return posixpath.splitext(posixpath.basename(urlsplit(uri).path))[0] or uri


def choose_variant(variants: Sequence[Variant], wanted: str | None) -> Variant:
    """The rendition named ``wanted`` (or ``best``/``lowest``); by default the highest bandwidth.

    Raises ValueError listing what the master playlist offers.
    """
    if not variants:
        raise ValueError("the master playlist lists no rendition")
    ranked = sorted(variants, key=lambda v: (v.bandwidth, v.height or 0), reverse=True)
    if wanted in (None, "", "best"):
        return ranked[0]
    if wanted == "lowest":
        return ranked[-1]
    for v in variants:
        if wanted in (v.name, v.uri, f"{v.height}p"):
            return v
    offered = ", ".join(v.describe() for v in ranked)
    raise ValueError(f"no rendition {wanted!r}; the master playlist offers: {offered}")
