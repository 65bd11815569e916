"""The end of an event: once every segment is verified, the final live playlists (with ENDLIST), the VOD
playlists and the VOD master, each verified in the bucket before the event counts as archived."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from core.encoder_settings import EncoderSection
from core.hls import render_master_playlist
from encoder.errors import ArchiveIncomplete
from encoder.keys import EventLayout
from encoder.live import LivePlaylists, media_playlist
from encoder.timeline import Entry, all_ready, is_ready
from encoder.versions import PlaylistVersions
from journal.events import Segment
from journal.files import Journal

log = logging.getLogger(__name__)


class Archive:
    """Finishes one event; ``wait(seconds)`` sleeps until woken, ``abort`` stops waiting for uploads."""

    def __init__(
        self,
        cfg: EncoderSection,
        layout: EventLayout,
        live: LivePlaylists,
        versions: PlaylistVersions,
        journal: Journal,
        wait: Callable[[float], None],
        abort: threading.Event,
        housekeeping: Callable[[str], None],
        clock: Callable[[], float],
    ) -> None:
        self.cfg = cfg
        self.layout = layout
        self.live = live
        self.versions = versions
        self.journal = journal
        self._wait = wait
        self._abort = abort
        self._housekeeping = housekeeping
        self._now = clock

    def finish(self) -> None:
        """Wait until every segment is verified, then publish the final live playlists and the VOD.

        Raises ArchiveIncomplete when files failed, the wait was aborted or ``final_wait`` passed.
        """
        deadline = time.monotonic() + self.cfg.final_wait
        live = self.live
        everything = [s for e in live.edges for s in e.segments]
        if not everything:
            log.warning("event %s ended without a single segment: no playlist to publish", self.layout.event_id)
            return
        log.info("event %s ended: %d segment file(s); waiting for the archive", self.layout.event_id, len(everything))
        while not all_ready(everything, live.verified):
            live.refresh_verified()
            live.update(self._now())
            live.maybe_master()
            self._housekeeping("finishing")
            failed = self.journal.failed_among(live.pending)
            if failed or self._abort.is_set() or time.monotonic() >= deadline:
                self._give_up(everything, failed)
            self._wait(self.cfg.poll_interval)
        live.update(self._now(), ended=True)
        for edge in live.edges:
            vod = media_playlist([Entry(s) for s in edge.segments], target=live.target(edge), vod=True)
            self.versions.offer(self.layout.vod_key(edge.spec.name), vod, force=True)
        master = render_master_playlist(live.variants(vod=True))
        self.versions.offer(self.layout.master_key(vod=True), master, force=True)
        keys = [self.layout.vod_key(e.spec.name) for e in live.edges]
        keys += [self.layout.live_key(e.spec.name) for e in live.edges]
        keys.append(self.layout.master_key(vod=True))
        while not all(self.versions.settled(k) for k in keys):
            live.maybe_master()
            self.versions.flush()
            if self._abort.is_set() or time.monotonic() >= deadline:
                raise ArchiveIncomplete(
                    f"event {self.layout.event_id}: the VOD playlists were not verified in time; they stay "
                    f"journaled and the workers keep delivering them; the reconciler finishes the event"
                )
            self._wait(self.cfg.poll_interval)
        live.maybe_master()
        log.info("event %s archived: VOD playlist %s", self.layout.event_id, self.layout.master_key(vod=True))

    def _give_up(self, everything: list[Segment], failed: dict[str, str]) -> None:
        missing = [s for s in everything if not is_ready(s, self.live.verified)]
        reasons = "; ".join(f"{k}: {why}" for k, why in list(failed.items())[:5])
        raise ArchiveIncomplete(
            f"event {self.layout.event_id}: {len(missing)} segment(s) not verified"
            + (f" ({len(failed)} failed permanently: {reasons})" if failed else "")
            + "; they stay journaled and the workers keep delivering them: the VOD playlist is published by "
            "itself the moment the last one is verified (`surecast status` shows the progress)."
        )
