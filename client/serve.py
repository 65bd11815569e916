"""Re-serve the verified stream as HLS for players on the LAN: one download, many screens.

Segments are published to the local playlist at playback time, so local players trail the origin by
the delay buffer and inherit its protection. Each segment is served with its MD5 as ``x-amz-meta-md5``
and ETag, like the bucket does, so a `surecast play` on another machine verifies this server too.
The web player is served at ``/``, already pointed at ``/stream/live.m3u8``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque

from client.integrity import MD5_HEADER
from client.items import GapItem, SegmentItem
from client.servedplaylist import ServedEntry, content_type, local_name, render_served_playlist
from client.webserver import Response, Route, WebServer, chain, static_route

STREAM_PATH = "/stream/"
PLAYLIST_NAME = "live.m3u8"
SEGMENT_CACHE = "max-age=31536000, immutable"


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
                self._bodies.setdefault(init_name, (item.init.body, hashlib.md5(item.init.body).hexdigest()))
            md5 = item.published.md5 if item.published else hashlib.md5(item.body).hexdigest()
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
                text = render_served_playlist(list(self._entries), self._discontinuity_sequence, self._ended)
                return Response(200, text.encode(), "application/vnd.apple.mpegurl", {"Cache-Control": "no-cache"})
            found = self._bodies.get(name)
        if found is None:
            return None
        body, md5 = found
        return Response(
            200, body, content_type(name), {"Cache-Control": SEGMENT_CACHE, MD5_HEADER: md5, "ETag": f'"{md5}"'}
        )


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
