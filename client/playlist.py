"""Read remote HLS playlists (parsed by core.hls) and pick a rendition. Pure: no I/O.

URIs are resolved against the playlist's own URL here, for http(s):// and for s3://bucket/key alike,
so the rest of the client only ever sees absolute addresses, and each entry carries its media sequence
number.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from client.errors import NotHLS
from core import hls

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
    # The destination it is read from: PATHWAY-ID where the master names several, else the URL's host.
    pathway: str = ""

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
        parsed = hls.parse_playlist(text)
    except ValueError as exc:
        raise NotHLS(f"{url}: {exc}") from exc
    if isinstance(parsed, hls.MasterPlaylist):
        return MasterPlaylist(tuple(_variant(v, url) for v in parsed.variants))
    entries = []
    for i, seg in enumerate(parsed.segments):
        uri = resolve(url, seg.uri)
        entries.append(
            MediaEntry(
                seq=parsed.media_sequence + i,
                uri=uri,
                name=segment_name(uri),
                duration=seg.duration,
                gap=seg.gap,
                discontinuity=seg.discontinuity,
                init_uri=resolve(url, seg.init_uri) if seg.init_uri else None,
            )
        )
    target = float(parsed.target_duration or max((e.duration for e in entries), default=2.0) or 2.0)
    return MediaPlaylist(tuple(entries), target, parsed.ended)


def _variant(variant: hls.Variant, base: str) -> Variant:
    uri = resolve(base, variant.uri)
    name = rendition_name(variant.uri, variant.height)
    pathway = variant.pathway or urlsplit(uri).netloc
    return Variant(name, uri, variant.bandwidth, variant.width, variant.height, pathway)


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


def alternates(variants: Sequence[Variant], chosen: Variant) -> list[Variant]:
    """``chosen`` and the variants that carry the same rendition from other destinations (the HLS
    redundant-stream form: same rendition and BANDWIDTH, another URI), ``chosen`` first, then as listed."""
    same = [v for v in variants if v.name == chosen.name and v.bandwidth == chosen.bandwidth and v.uri != chosen.uri]
    return [chosen, *same]
