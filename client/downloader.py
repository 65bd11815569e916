"""A thread that follows the live media playlist and queues every segment, verified, in order.

It never waits for the playout: downloads run ahead (that is the delay buffer), so a viewer-side
outage only empties the buffer instead of stalling the picture. Where the master names several
destinations (client.routes), a destination that stops answering, loses a segment or falls behind is
left for the next within ``FAILOVER_AFTER`` seconds: the same media sequence number is fetched
there, so the buffer never drains. Failures end the thread with a FailItem; Ctrl-C (the stop event)
ends it quietly.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from client.errors import ClientError, IntegrityFailure, Missing, NotHLS, Stopped, StreamNotFound, StreamStale
from client.fetcher import Fetcher
from client.follow import Follower, reload_delay
from client.items import EndItem, FailItem, FillItem, GapItem, Init, Item, SegmentItem
from client.playlist import MediaEntry, MediaPlaylist, parse_playlist, segment_name
from client.routes import Routes

log = logging.getLogger(__name__)

# A playlist unchanged for this many target durations, where another destination may be further along.
BEHIND_AFTER_TARGETS = 3


@dataclass(frozen=True)
class Timing:
    stale_timeout: float
    failover_after: float


class Downloader(threading.Thread):
    def __init__(
        self,
        fetcher: Fetcher,
        routes: Routes,
        first: MediaPlaylist,
        follower: Follower,
        timing: Timing,
        out: queue.Queue[Item],
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="surecast-downloader", daemon=True)
        self.fetcher = fetcher
        self.routes = routes
        self.first = first
        self.follower = follower
        self.timing = timing
        self.out = out
        self.stop = stop
        self.clock = clock
        self._inits: dict[str, Init] = {}
        self._last_seq: int | None = first.last_seq

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
            if unchanged > self.timing.stale_timeout:
                raise StreamStale(
                    f"{self.routes.url}: the live playlist has not changed for {unchanged:.0f} s and has no "
                    f"EXT-X-ENDLIST: the stream stopped (SURECAST_CLIENT_STALE_TIMEOUT={self.timing.stale_timeout:g})"
                )
            wait = reload_delay(playlist, step.changed) - (self.clock() - loaded_at)
            if self.stop.wait(max(0.0, wait)):
                return False
            loaded_at = self.clock()
            behind = unchanged > max(BEHIND_AFTER_TARGETS * playlist.target_duration, self.timing.failover_after)
            playlist = self._load(behind)
            if playlist.last_seq is not None:
                self._last_seq = max(self._last_seq or playlist.last_seq, playlist.last_seq)

    # Playlists --------------------------------------------------------------------------------------------

    def _deadline(self) -> float | None:
        """How long the destination being read may stay silent: short while another can take over."""
        return self.timing.failover_after if self.routes.redundant else None

    def _playlist(self, index: int, deadline: float | None) -> MediaPlaylist:
        url = self.routes.figures[index].url
        try:
            got = self.fetcher.fetch(url, segment_name(url), deadline=deadline)
        except Missing as exc:
            raise StreamNotFound(f"{exc}: the live playlist disappeared") from exc
        parsed = parse_playlist(got.fetched.body, got.fetched.url)
        if not isinstance(parsed, MediaPlaylist):
            raise NotHLS(f"{url}: became a master playlist; expected a media playlist")
        self.routes.succeeded(index, self.clock(), segment=False)
        return parsed

    def _try_playlist(self, index: int) -> MediaPlaylist | None:
        try:
            return self._playlist(index, self.timing.failover_after)
        except Stopped:
            raise
        except ClientError as exc:
            self.routes.failed(index, str(exc))
            return None

    def _load(self, behind: bool) -> MediaPlaylist:
        routes = self.routes
        if routes.probe_due(self.clock()):
            home = self._try_playlist(0)
            if home is not None and (home.last_seq or -1) >= (self._last_seq or -1):
                self._switch(0, "it answers again and is as far along")
                return home
        try:
            playlist = self._playlist(routes.current, self._deadline())
        except (Stopped, IntegrityFailure):
            raise
        except ClientError as exc:
            if not routes.redundant:
                raise
            routes.failed(routes.current, str(exc))
            found = self._turn_away(str(exc), lambda _: True)
            if found is not None:
                return found
            # Nobody else answers either: the one being read gets the whole origin timeout.
            return self._playlist(routes.current, None)
        if behind and routes.redundant:
            last = playlist.last_seq if playlist.last_seq is not None else -1
            ahead = self._turn_away(
                "its live playlist stopped moving", lambda other: (other.last_seq or -1) > last, quiet=True
            )
            if ahead is not None:
                return ahead
        return playlist

    def _turn_away(
        self, reason: str, accept: Callable[[MediaPlaylist], bool], quiet: bool = False
    ) -> MediaPlaylist | None:
        """The first other destination whose playlist answers and is accepted, now the one read; else None."""
        for index in self.routes.others():
            other = self._try_playlist(index)
            if other is not None and accept(other):
                self._switch(index, reason)
                return other
        if not quiet:
            log.warning("%s: %s, and no other destination answers", self.routes.name, reason)
        return None

    def _switch(self, index: int, reason: str) -> None:
        before = self.routes.name
        self.routes.switch(index, self.clock(), reason)
        log.warning("reading %s instead of %s: %s", self.routes.name, before, reason)

    # Segments ---------------------------------------------------------------------------------------------

    def _segment(self, index: int, entry: MediaEntry, deadline: float | None) -> SegmentItem:
        init = self._init(entry.init_uri, deadline) if entry.init_uri else None
        got = self.fetcher.fetch(entry.uri, entry.name, deadline=deadline)
        self.routes.succeeded(index, self.clock(), segment=True)
        return SegmentItem(entry, got.fetched.body, got.published, init)

    def _segment_or_gap(self, entry: MediaEntry) -> SegmentItem | GapItem:
        routes = self.routes
        problem: ClientError | None = None
        if not entry.gap:
            try:
                return self._segment(routes.current, entry, self._deadline())
            except Stopped:
                raise
            except ClientError as exc:
                if not routes.redundant and not isinstance(exc, Missing):
                    raise
                routes.failed(routes.current, str(exc))
                problem = exc
        if routes.redundant:
            found = self._from_another(entry, problem)
            if found is not None:
                return found
        if entry.gap:
            return GapItem(entry.seq, entry.name, entry.duration, entry.discontinuity, "EXT-X-GAP in the playlist")
        if isinstance(problem, Missing):
            log.error("%s: skipped as a gap: %s", entry.name, problem)
            return GapItem(entry.seq, entry.name, entry.duration, entry.discontinuity, str(problem))
        assert problem is not None
        if routes.redundant and not isinstance(problem, IntegrityFailure):
            # Nobody else has it: the one being read gets the whole origin timeout.
            try:
                return self._segment(routes.current, entry, None)
            except Missing as exc:
                log.error("%s: skipped as a gap: %s", entry.name, exc)
                return GapItem(entry.seq, entry.name, entry.duration, entry.discontinuity, str(exc))
        raise problem

    def _from_another(self, entry: MediaEntry, problem: ClientError | None) -> SegmentItem | None:
        """The same segment (same media sequence number) from another destination: read from it from now
        on if the one being read failed; just this segment if it only announced a gap."""
        for index in self.routes.others():
            other = self._try_playlist(index)
            twin = next((e for e in other.entries if e.seq == entry.seq and not e.gap), None) if other else None
            if twin is None:
                continue
            try:
                item = self._segment(index, twin, self.timing.failover_after)
            except Stopped:
                raise
            except ClientError as exc:
                self.routes.failed(index, str(exc))
                continue
            if problem is not None:
                self._switch(index, f"{entry.name}: {problem}")
            else:
                log.info("%s: a gap here, fetched from %s", entry.name, self.routes.figures[index].name)
            return item
        return None

    def _init(self, uri: str, deadline: float | None) -> Init:
        if uri not in self._inits:
            name = segment_name(uri)
            self._inits[uri] = Init(uri, name, self.fetcher.fetch(uri, name, deadline=deadline).fetched.body)
        return self._inits[uri]
