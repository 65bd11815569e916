"""Re-serve the verified stream as HLS for players on the LAN: one download, many screens.

Segments are published to the local playlist at playback time, so local players trail the origin by
the delay buffer and inherit its protection. Each segment is served with its MD5 as ``x-amz-meta-md5``
and ETag, like the bucket does, so a `surecast play` on another machine verifies this server too.
The web player is served at ``/``, already pointed at ``/stream/live.m3u8``.
"""

from __future__ import annotations

import posixpath
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from client.items import GapItem, SegmentItem
from client.webserver import Response, Route, WebServer, chain, static_route
from core.contract import (
    IMMUTABLE_CACHE_CONTROL,
    MD5_HEADER,
    PLAYLIST_CACHE_CONTROL,
    PLAYLIST_CONTENT_TYPE,
    content_type_of,
)
from core.files import md5_hex
from core.hls import MediaPlaylist, MediaSegment, render_media_playlist, target_duration

STREAM_PATH = "/stream/"
SERVE_WINDOW = 30  # segments the LAN re-serve keeps and lists
PLAYLIST_NAME = "live.m3u8"


@dataclass(frozen=True)
class ServedEntry:
    """One line of the served playlist: a segment (or a gap) under its local name."""

    seq: int
    name: str
    duration: float
    gap: bool
    discontinuity: bool
    init_name: str | None = None


def local_name(prefix: str, seq: int, uri: str) -> str:
    """``seg_<seq>.ts``: named by the media sequence number, never by the remote path; the remote
    extension if it is a media type we serve, else ``.ts``."""
    ext = posixpath.splitext(urlsplit(uri).path)[1].lower()
    media = bool(ext) and content_type_of(ext) not in (None, PLAYLIST_CONTENT_TYPE)
    return f"{prefix}_{seq}{ext if media else '.ts'}"


def served_playlist(entries: Sequence[ServedEntry], discontinuity_sequence: int, ended: bool) -> str:
    """The live (or, once ``ended``, finished) media playlist of ``entries``.

    Gaps stay gaps (EXT-X-GAP keeps sequence numbers aligned), and EXT-X-DISCONTINUITY-SEQUENCE counts
    the breaks that have left the window, as RFC 8216 6.2.2 requires.
    """
    segments = tuple(MediaSegment(e.name, e.duration, e.discontinuity, e.gap, e.init_name) for e in entries)
    playlist = MediaPlaylist(
        segments,
        target_duration=target_duration([e.duration for e in entries], floor=1),
        media_sequence=entries[0].seq if entries else 0,
        discontinuity_sequence=discontinuity_sequence,
        ended=ended,
    )
    return render_media_playlist(playlist)


class ServedStream:
    """The sliding window of segments the re-serve offers; shared by the playout and the HTTP threads."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._entries: deque[ServedEntry] = deque()
        self._bodies: dict[str, tuple[bytes, str]] = {}  # name -> (body, md5)
        self._init_names: dict[str, str] = {}  # remote init URI -> local name
        self._discontinuity_sequence = 0
        self._ended = False
        self._lock = threading.Lock()

    def add_segment(self, item: SegmentItem, breaks: bool) -> None:
        name = local_name("seg", item.seq, item.entry.uri)
        with self._lock:
            init_name = None
            if item.init:
                init_name = self._init_names.setdefault(item.init.uri, local_name("init", item.seq, item.init.uri))
                self._bodies.setdefault(init_name, (item.init.body, md5_hex(item.init.body)))
            md5 = item.published.md5 if item.published else md5_hex(item.body)
            self._bodies[name] = (item.body, md5)
            self._append(ServedEntry(item.seq, name, item.duration, False, breaks, init_name))

    def add_gap(self, item: GapItem) -> None:
        with self._lock:
            self._append(ServedEntry(item.seq, local_name("seg", item.seq, item.name), item.duration, True, True))

    def end(self) -> None:
        with self._lock:
            self._ended = True

    def _append(self, entry: ServedEntry) -> None:
        self._entries.append(entry)
        while len(self._entries) > self.window:
            old = self._entries.popleft()
            if old.discontinuity:
                self._discontinuity_sequence += 1
            self._bodies.pop(old.name, None)
        live_inits = {e.init_name for e in self._entries if e.init_name}
        for name in [n for n in self._bodies if n.startswith("init_") and n not in live_inits]:
            del self._bodies[name]

    def route(self, path: str) -> Response | None:
        if not path.startswith(STREAM_PATH):
            return None
        name = path[len(STREAM_PATH) :]
        with self._lock:
            if name == PLAYLIST_NAME:
                text = served_playlist(list(self._entries), self._discontinuity_sequence, self._ended)
                headers = {"Cache-Control": PLAYLIST_CACHE_CONTROL}
                return Response(200, text.encode(), PLAYLIST_CONTENT_TYPE, headers)
            found = self._bodies.get(name)
        if found is None:
            return None
        body, md5 = found
        headers = {"Cache-Control": IMMUTABLE_CACHE_CONTROL, MD5_HEADER: md5, "ETag": f'"{md5}"'}
        return Response(200, body, content_type_of(name) or "application/octet-stream", headers)


class ServeOutput:
    """The re-serve as an output of the playout, with its HTTP server."""

    def __init__(self, bind: str, port: int, window: int, title: str) -> None:
        self.stream = ServedStream(window)
        config = {"src": f"{STREAM_PATH.lstrip('/')}{PLAYLIST_NAME}", "title": title}
        route: Route = chain(self.stream.route, static_route(config))
        self.server = WebServer(bind, port, route)
        self.bind = bind

    @property
    def player_url(self) -> str:
        return self.server.url(self.bind)

    @property
    def playlist_url(self) -> str:
        return f"{self.server.url(self.bind).rstrip('/')}{STREAM_PATH}{PLAYLIST_NAME}"

    def segment(self, item: SegmentItem, breaks: bool) -> None:
        self.stream.add_segment(item, breaks)

    def gap(self, item: GapItem) -> None:
        self.stream.add_gap(item)

    def finish(self, ended: bool) -> None:
        self.stream.end()

    def close(self) -> None:
        self.server.close()
