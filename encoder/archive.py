"""The end of an event, for each destination: once every segment is verified there, the final live
playlists (with ENDLIST), the VOD playlists and the VOD master, each verified before the event counts as
archived there. Destinations finish independently: one that is down never holds up another's VOD."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from core.encoder_settings import EncoderSection
from core.hls import render_master_playlist
from encoder.constants import POLL_INTERVAL
from encoder.errors import ArchiveIncomplete
from encoder.keys import is_slate
from encoder.live import LivePlaylists, media_playlist
from encoder.timeline import Entry, all_ready, is_ready

log = logging.getLogger(__name__)


class DestinationArchive:
    """One destination's archive of the event, moved on by ``step``."""

    def __init__(self, name: str, live: LivePlaylists) -> None:
        self.name = name
        self.live = live
        self.layout = live.layout
        self.versions = live.versions
        self.offered = False
        self.done = False
        self.problem = ""

    def step(self, now: float) -> None:
        """Wait for the segments, then offer the final and VOD playlists, then wait until they are verified."""
        live = self.live
        everything = [s for e in live.edges for s in e.segments]
        if not self.offered:
            live.refresh_verified()
            live.update(now)
            live.maybe_master()
            if not all_ready(everything, live.verified):
                failed = live.journal.failed_among(live.own_key(k) for k in live.pending)
                if failed:
                    missing = sum(1 for s in everything if not is_ready(s, live.verified))
                    reasons = "; ".join(f"{k}: {why}" for k, why in list(failed.items())[:5])
                    self.problem = f"{missing} segment(s) not verified ({len(failed)} failed: {reasons})"
                return
            live.update(now, ended=True)
            for edge in live.edges:
                recorded = [Entry(s) for s in edge.segments if not is_slate(s.name)]  # what the source sent
                vod = media_playlist(recorded, target=live.target(edge), vod=True)
                self.versions.offer(self.layout.vod_key(edge.spec.name), vod, force=True)
            master = render_master_playlist(live.variants(vod=True))
            self.versions.offer(self.layout.master_key(vod=True), master, force=True)
            self.offered = True
        live.maybe_master()
        self.versions.flush()
        if all(self.versions.settled(k) for k in self._final_keys()):
            self.done = True
            log.info("event %s archived on %s: %s", self.layout.event_id, self.name, self.layout.master_key(vod=True))

    def _final_keys(self) -> list[str]:
        keys = [self.layout.vod_key(e.spec.name) for e in self.live.edges]
        keys += [self.layout.live_key(e.spec.name) for e in self.live.edges]
        keys.append(self.layout.master_key(vod=True))
        return keys

    def waiting_for(self) -> str:
        if self.problem:
            return self.problem
        if not self.offered:
            missing = sum(1 for e in self.live.edges for s in e.segments if not is_ready(s, self.live.verified))
            return f"{missing} segment(s) not verified"
        return "the VOD playlists not verified yet"


class Archive:
    """Finishes one event on every destination; ``wait(seconds)`` sleeps until woken, ``abort`` stops
    waiting for uploads."""

    def __init__(
        self,
        cfg: EncoderSection,
        archives: Sequence[DestinationArchive],
        wait: Callable[[float], None],
        abort: threading.Event,
        housekeeping: Callable[[str], None],
        clock: Callable[[], float],
    ) -> None:
        self.cfg = cfg
        self.archives = list(archives)
        self._wait = wait
        self._abort = abort
        self._housekeeping = housekeeping
        self._now = clock

    def finish(self) -> list[str]:
        """Archive the event everywhere within ``final_wait``; returns the destinations archived.

        Raises ArchiveIncomplete naming the others when files failed, the wait was aborted or the time
        ran out: their files stay journaled, and the reconciler finishes them once delivered.
        """
        first = self.archives[0]
        event = first.layout.event_id
        if not any(e.segments for e in first.live.edges):
            log.warning("event %s ended without a single segment: no playlist to publish", event)
            return [a.name for a in self.archives]
        log.info("event %s ended; waiting for the archive on %s", event, ", ".join(a.name for a in self.archives))
        deadline = time.monotonic() + self.cfg.final_wait
        while True:
            for archive in self.archives:
                if not archive.done:
                    archive.step(self._now())
            self._housekeeping("finishing")
            pending = [a for a in self.archives if not a.done]
            if not pending:
                return [a.name for a in self.archives]
            if self._abort.is_set() or time.monotonic() >= deadline or all(a.problem for a in pending):
                waiting = "; ".join(f"{a.name}: {a.waiting_for()}" for a in pending)
                raise ArchiveIncomplete(
                    f"event {event}: not archived on {waiting}; the files stay journaled and the workers keep "
                    "delivering them: the VOD is published by itself the moment the last one is verified "
                    "(`surecast status` shows the progress).",
                    [a.name for a in self.archives if a.done],
                )
            self._wait(POLL_INTERVAL)
