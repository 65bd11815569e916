"""One playback: open the stream, run the downloader, and play out through the delay buffer.

The main thread owns the report and the outputs; the downloader thread only talks through the queue.
Segments are handed to the outputs when the playhead reaches them (a little ahead, ``HANDOFF_LEAD``),
so a LAN re-serve or ffplay trails the origin by the buffer; once the stream has ended and every
segment is held, the rest is handed over at once (no stall is possible any more).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from client.downloader import Downloader, Timing
from client.errors import ClientError, IntegrityFailure, NotHLS, Stopped
from client.fetcher import Fetcher, Outage, RetryPolicy
from client.follow import Follower
from client.items import EndItem, FailItem, FillItem, GapItem, Item, SegmentItem
from client.origin import Origin
from client.outputs import Output
from client.playlist import (
    MasterPlaylist,
    MediaPlaylist,
    Variant,
    alternates,
    choose_variant,
    parse_playlist,
    segment_name,
)
from client.playout import PlayoutClock
from client.report import Refetch, Report
from client.routes import FAILOVER_AFTER, PROBE_EVERY, Routes
from core.client_settings import ClientSection

log = logging.getLogger(__name__)

HANDOFF_LEAD = 1.0  # seconds ahead of the playhead a segment is handed to the outputs
MAX_WAKE = 0.25


@dataclass(frozen=True)
class PlayOptions:
    url: str
    rendition: str | None
    buffer: float
    from_first: bool
    pace: bool | None  # None: pace a live stream, not one that has already ended
    duration: float | None  # stop after this much media has played


@dataclass(frozen=True)
class Opened:
    media_url: str
    playlist: MediaPlaylist
    variant: Variant | None
    variants: tuple[Variant, ...]

    def routes(self, probe_every: float) -> Routes:
        """Where the chosen rendition can be read: each destination the master names, this one first."""
        if self.variant is None:
            return Routes.of([(urlsplit(self.media_url).netloc or self.media_url, self.media_url)], probe_every)
        found = alternates(self.variants, self.variant)
        return Routes.of([(v.pathway, self.media_url if v is self.variant else v.uri) for v in found], probe_every)


def open_stream(fetcher: Fetcher, url: str, rendition: str | None) -> Opened:
    """Fetch ``url``; from a master playlist pick the rendition and fetch its media playlist."""
    got = fetcher.fetch(url, segment_name(url), starting=True)
    parsed = parse_playlist(got.fetched.body, got.fetched.url)
    if isinstance(parsed, MediaPlaylist):
        return Opened(got.fetched.url, parsed, None, ())
    assert isinstance(parsed, MasterPlaylist)
    try:
        variant = choose_variant(parsed.variants, rendition)
    except ValueError as exc:
        raise NotHLS(f"{url}: {exc}") from exc
    got = fetcher.fetch(variant.uri, segment_name(variant.uri), starting=True)
    media = parse_playlist(got.fetched.body, got.fetched.url)
    if not isinstance(media, MediaPlaylist):
        raise NotHLS(f"{variant.uri}: a master playlist where a media playlist was expected")
    return Opened(got.fetched.url, media, variant, parsed.variants)


@dataclass
class _Pending:
    offset: float  # media position where this item starts
    item: SegmentItem | GapItem


class Playback:
    """Runs one playback to its end; ``report`` holds the figures whatever happened."""

    def __init__(
        self,
        cfg: ClientSection,
        origin: Origin,
        options: PlayOptions,
        outputs: Sequence[Output],
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.options = options
        self.outputs = list(outputs)
        self.stop = stop
        self.clock = clock
        self.queue: queue.Queue[Item] = queue.Queue()
        self.fetcher = Fetcher(origin, RetryPolicy.of(cfg), self.queue.put, stop, clock)
        self.report = Report(options.url, buffer=options.buffer)
        self.playout = PlayoutClock(options.buffer)
        self._pending: deque[_Pending] = deque()
        self._received = 0.0
        self._broken = True  # the next segment starts a new timeline

    def open(self) -> Opened:
        """Open the stream (bounded by SURECAST_CLIENT_START_TIMEOUT); errors are the report's too."""
        try:
            opened = open_stream(self.fetcher, self.options.url, self.options.rendition)
        except ClientError as exc:
            self._fail(exc)
            raise
        self._drain_notices()
        self.report.rendition = opened.variant.name if opened.variant else None
        return opened

    def run(self, opened: Opened) -> Report:
        """Play to the end of the stream (or the duration limit, or a stop); never raises ClientError."""
        pace = self.options.pace if self.options.pace is not None else not opened.playlist.ended
        follower = Follower(self.options.buffer, self.options.from_first)
        routes = opened.routes(PROBE_EVERY)
        timing = Timing(self.cfg.stale_timeout, FAILOVER_AFTER)
        downloader = Downloader(
            self.fetcher, routes, opened.playlist, follower, timing, self.queue, self.stop, self.clock
        )
        downloader.start()
        try:
            self._loop(pace)
        except ClientError as exc:
            self._fail(exc)
        finally:
            self.report.stalls = list(self.playout.stalls)
            self.stop.set()
            downloader.join(self.cfg.read_timeout + self.cfg.connect_timeout + 5)
            self.report.add_routes(routes, self.clock())
        return self.report

    def _loop(self, pace: bool) -> None:
        ended: bool | None = None  # None while the downloader runs
        failure: ClientError | None = None
        while True:
            item = self._next(pace)
            now = self.clock()
            if item is not None:
                if isinstance(item, EndItem):
                    ended = item.ended
                    self.playout.finish(now)
                elif isinstance(item, FailItem):
                    failure = item.error
                    self.playout.finish(now)
                    ended = False
                else:
                    self._take(item, now)
            self.playout.observe(now)
            self._hand_over(now, flush=not pace or ended is not None)
            if self._duration_reached(now):
                break
            if ended is not None and not self._pending:
                break
            if self.stop.is_set() and ended is None:
                raise Stopped("stopped")
        self.report.ended = bool(ended)
        self._finish(bool(ended))
        if failure is not None:
            raise failure

    def _next(self, pace: bool) -> Item | None:
        timeout = MAX_WAKE
        if pace and self._pending:
            due = self.playout.due(self._pending[0].offset)
            if due is not None:
                timeout = min(timeout, max(0.0, due - HANDOFF_LEAD - self.clock()))
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _take(self, item: Item, now: float) -> None:
        if isinstance(item, Outage):
            self.report.fetch_retries += item.retries
            self.report.longest_outage = max(self.report.longest_outage, item.seconds)
        elif isinstance(item, Refetch):
            self.report.integrity_refetches.append(item)
        elif isinstance(item, FillItem):
            self._fill(item.segment)
        elif isinstance(item, SegmentItem | GapItem):
            self._pending.append(_Pending(self._received, item))
            self._received += item.duration
            self.playout.received(item.duration, now)

    def _fill(self, segment: SegmentItem) -> None:
        for pending in self._pending:
            if isinstance(pending.item, GapItem) and pending.item.seq == segment.seq:
                pending.item = segment
                self.report.gaps_filled.append(segment.entry.name)
                log.info("%s: the gap was filled before playback reached it", segment.entry.name)
                return
        log.warning("%s arrived after playback passed its gap", segment.entry.name)

    def _hand_over(self, now: float, flush: bool) -> None:
        while self._pending:
            head = self._pending[0]
            if not flush:
                due = self.playout.due(head.offset)
                if due is None or now < due - HANDOFF_LEAD:
                    return
            self._pending.popleft()
            self._play(head.item)

    def _play(self, item: SegmentItem | GapItem) -> None:
        r = self.report
        if isinstance(item, GapItem):
            r.gaps.append(item.name)
            r.discontinuities += int(item.discontinuity)
            log.warning("gap: %s (%s)", item.name, item.reason)
            for out in self.outputs:
                out.gap(item)
            self._broken = True
            return
        entry = item.entry
        breaks = self._broken or entry.discontinuity
        r.discontinuities += int(entry.discontinuity)
        r.segments_played += 1
        r.media_seconds += entry.duration
        if item.published is None:
            r.unverified.append(entry.name)
        elif item.published.source == "metadata":
            r.verified_metadata += 1
        else:
            r.verified_etag += 1
        for out in self.outputs:
            out.segment(item, breaks)
        self._broken = False

    def _duration_reached(self, now: float) -> bool:
        limit = self.options.duration
        return limit is not None and self.report.media_seconds >= limit

    def _drain_notices(self) -> None:
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            self._take(item, self.clock())

    def _finish(self, ended: bool) -> None:
        outputs, self.outputs = self.outputs, []
        for out in outputs:
            out.finish(ended)

    def _fail(self, exc: ClientError) -> None:
        """Record why playback ended early (a stop is not an error) and release the outputs."""
        self._drain_notices()
        if not isinstance(exc, Stopped):
            self.report.error = str(exc)
            self.report.error_kind = "integrity" if isinstance(exc, IntegrityFailure) else type(exc).__name__
        outputs, self.outputs = self.outputs, []
        for out in outputs:
            out.close()
