"""A thread that follows the live media playlist and queues every segment, verified, in order.

It never waits for the playout: downloads run ahead (that is the delay buffer), so a viewer-side
outage only empties the buffer instead of stalling the picture. Failures end the thread with a
FailItem; Ctrl-C (the stop event) ends it quietly.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from client.errors import ClientError, Missing, NotHLS, Stopped, StreamNotFound, StreamStale
from client.fetcher import Fetcher
from client.follow import Follower, reload_delay
from client.items import EndItem, FailItem, FillItem, GapItem, Init, Item, SegmentItem
from client.playlist import MediaEntry, MediaPlaylist, parse_playlist, segment_name

log = logging.getLogger(__name__)


class Downloader(threading.Thread):
    def __init__(
        self,
        fetcher: Fetcher,
        media_url: str,
        first: MediaPlaylist,
        follower: Follower,
        stale_timeout: float,
        out: queue.Queue[Item],
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="surecast-downloader", daemon=True)
        self.fetcher = fetcher
        self.media_url = media_url
        self.first = first
        self.follower = follower
        self.stale_timeout = stale_timeout
        self.out = out
        self.stop = stop
        self.clock = clock
        self._inits: dict[str, Init] = {}

    def run(self) -> None:
        try:
            ended = self._follow()
        except Stopped:
            self.out.put(EndItem(ended=False))
        except ClientError as exc:
            self.out.put(FailItem(exc))
        else:
            self.out.put(EndItem(ended=ended))

    def _follow(self) -> bool:
        playlist = self.first
        last_change = loaded_at = self.clock()
        while True:
            step = self.follower.step(playlist)
            if step.changed:
                last_change = loaded_at
            for seq in step.missed:
                self.out.put(
                    GapItem(
                        seq, f"#{seq}", playlist.target_duration, True, "left the live window before it was fetched"
                    )
                )
            for entry in step.filled:
                segment = self._segment_or_gap(entry)
                if isinstance(segment, SegmentItem):
                    self.out.put(FillItem(segment))
            for entry in step.new:
                self.out.put(self._segment_or_gap(entry))
                if self.stop.is_set():
                    return False
            if playlist.ended:
                return True
            unchanged = self.clock() - last_change
            if unchanged > self.stale_timeout:
                raise StreamStale(
                    f"{self.media_url}: the live playlist has not changed for {unchanged:.0f} s and has no "
                    f"EXT-X-ENDLIST: the stream stopped (SURECAST_CLIENT_STALE_TIMEOUT={self.stale_timeout:g})"
                )
            wait = reload_delay(playlist, step.changed) - (self.clock() - loaded_at)
            if self.stop.wait(max(0.0, wait)):
                return False
            loaded_at = self.clock()
            playlist = self._load()

    def _load(self) -> MediaPlaylist:
        try:
            got = self.fetcher.fetch(self.media_url, segment_name(self.media_url))
        except Missing as exc:
            raise StreamNotFound(f"{exc}: the live playlist disappeared") from exc
        parsed = parse_playlist(got.fetched.body, got.fetched.url)
        if not isinstance(parsed, MediaPlaylist):
            raise NotHLS(f"{self.media_url}: became a master playlist; expected a media playlist")
        return parsed

    def _segment_or_gap(self, entry: MediaEntry) -> SegmentItem | GapItem:
        if entry.gap:
            return GapItem(entry.seq, entry.name, entry.duration, entry.discontinuity, "EXT-X-GAP in the playlist")
        try:
            init = self._init(entry.init_uri) if entry.init_uri else None
            got = self.fetcher.fetch(entry.uri, entry.name)
        except Missing as exc:
            log.error("%s: skipped as a gap: %s", entry.name, exc)
            return GapItem(entry.seq, entry.name, entry.duration, entry.discontinuity, str(exc))
        return SegmentItem(entry, got.fetched.body, got.published, init)

    def _init(self, uri: str) -> Init:
        if uri not in self._inits:
            name = segment_name(uri)
            self._inits[uri] = Init(uri, name, self.fetcher.fetch(uri, name).fetched.body)
        return self._inits[uri]
