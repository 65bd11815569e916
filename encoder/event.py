"""One live event, from the first FFmpeg start to the archived VOD: composes the encoder's parts.

The loop runs every ``POLL_INTERVAL`` seconds in one thread; publishing to Redis runs in another
(``PublishPump``), so neither Redis nor S3 can slow readiness, and FFmpeg (a separate process writing
only to the spool) never waits for anything here.

    FFmpeg ──writes──> spool ──ingest──> journal ──pump──> Redis ──> workers ──> S3
      ^ supervisor                         │ verified
                 live playlists <── live ──┘ ──> versions ──> journal ──> ...
                 VOD playlists  <── archive (at the end)
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from core.destinations import PRIMARY
from core.encoder_settings import EncoderSection
from core.settings import Settings
from encoder.archive import Archive
from encoder.channel import ChannelFiles, ChannelTarget
from encoder.constants import POLL_INTERVAL
from encoder.diskguard import DiskGuard
from encoder.errors import ArchiveIncomplete, SourceError
from encoder.ingest import Ingest, RenditionWatcher
from encoder.ingest_gate import IngestGate
from encoder.keys import PLAYLISTS_DIR, SLATES_DIR, EventLayout, is_slate, segment_seq
from encoder.live import Edge, LivePlaylists
from encoder.outputs import build_outputs
from encoder.program_time import ProgramClock
from encoder.pump import PublishPump
from encoder.slate import Slates, slate_due
from encoder.sources import Source
from encoder.speed import SpeedWatch
from encoder.status import write_encoder_status
from encoder.supervisor import FFmpegSupervisor, RunPlan
from encoder.timeline import is_ready
from journal.events import EventStore, Segment
from journal.files import Journal

log = logging.getLogger(__name__)
STATUS_EVERY = 1.0
SWEEP_EVERY = 5.0
DISK_EVERY = 0.5  # a free-space look costs one statvfs
REPUBLISH_INTERVAL = 1.0  # seconds between two tries to publish what did not reach Redis
MIB = 2**20


class LiveEvent:
    """Runs one event: ingest, live playlists, FFmpeg supervision, disk and status, then the archive."""

    def __init__(
        self,
        settings: Settings,
        event_id: str,
        source: Source | None,
        ffmpeg_exe: str = "",
        codec: str = "libx264",
        clock: Callable[[], float] = time.time,
        destinations: Iterable[str] | None = None,
        gate: IngestGate | None = None,
    ) -> None:
        self.settings = settings
        self.gate = gate  # in front of an RTMP listener: started by the caller, stopped when the event ends
        self.cfg: EncoderSection = settings.encoder
        self.spool = Path(settings.spool.dir).resolve()
        self.layout = EventLayout(settings.s3.prefix, event_id, self.cfg.channel)
        self._now = clock
        self._wake = threading.Event()
        self._stop_requested = threading.Event()
        self._abort = threading.Event()
        self.journal = Journal(self.spool)
        self.store = EventStore(self.journal)
        self.pump = PublishPump(settings, REPUBLISH_INTERVAL)
        known = {r.name: self.store.load(event_id, r.name) for r in self.cfg.ladder}
        renditions = [(r, known[r.name]) for r in self.cfg.ladder]
        self.outputs = build_outputs(
            settings, event_id, self.spool, self.journal, renditions, self.pump.notify, clock, destinations
        )
        mirrors = tuple((o.journal, o.layout) for o in self.outputs if o.name != PRIMARY)
        program = ProgramClock(s for segments in known.values() for s in segments)
        ctx = Ingest(self.spool, event_id, self.layout, self.journal, self.store, clock, mirrors, program)
        self.watchers = [RenditionWatcher(ctx, r.name, known[r.name]) for r in self.cfg.ladder]
        self.guard = DiskGuard(
            self.spool,
            self.journal,
            settings.spool.retention_seconds,
            self.cfg.min_free_mb * 2**20,
            [(o.journal, o.live.own_key) for o in self.outputs if o.name != PRIMARY],
        )
        for watcher in self.watchers:
            self.guard.track(watcher.segments)
        self.archive = Archive(
            self.cfg, [o.archive for o in self.outputs], self._sleep, self._abort,
            lambda state: self._housekeeping(self._now(), state), clock,
        )  # fmt: skip
        self.ffmpeg: FFmpegSupervisor | None = None
        if source is not None:
            dirs = {r.name: self.spool / self.layout.rendition_dir(r.name) for r in self.cfg.ladder}
            plan = RunPlan(dirs, self.spool / self.layout.spool_root / "ffmpeg.log")
            self.ffmpeg = FFmpegSupervisor(
                self.cfg, source, ffmpeg_exe, codec, plan, self._next_seq, self._drain, self._restarted
            )
        self.slates = Slates(ffmpeg_exe, self.cfg, self.spool / self.layout.spool_root / SLATES_DIR)
        # The viewers' page and channel.json on every destination of this event.
        self.channel = ChannelFiles(
            self.spool,
            self.cfg.channel,
            self.store,
            [ChannelTarget(o.name, o.layout.prefix, o.journal) for o in self.outputs],
            self.pump.notify,
            self.cfg.live_window * self.cfg.segment_seconds or None,
            self.cfg.segment_seconds,
        )
        self.speed = SpeedWatch()  # the top rendition's pace against real time
        self.low_disk = False
        self.free_bytes = 0
        self.paused_since: float | None = None  # recording paused: the disk reached its reserve
        self.waiting_bytes = 0
        self._next_status = 0.0
        self._next_sweep = 0.0
        self._next_disk = 0.0
        self._problem = ""

    @property
    def live(self) -> LivePlaylists:
        """The first destination's live playlists (the primary's, unless only others were asked for)."""
        return self.outputs[0].live

    @property
    def renditions(self) -> list[Edge]:
        """Each rendition's segments and live edge (on the first destination)."""
        return self.live.edges

    # Control (safe from signal handlers and other threads) ----------------------------------------------

    def request_stop(self) -> None:
        """End the event: the first call finishes cleanly, a second stops waiting for uploads."""
        if self._stop_requested.is_set():
            self._abort.set()
        self._stop_requested.set()
        self._wake.set()

    @property
    def ffmpeg_pid(self) -> int | None:
        return self.ffmpeg.pid if self.ffmpeg else None

    # The event ------------------------------------------------------------------------------------------

    def run(self, duration: float = 0.0) -> None:
        """Encode until ``duration`` seconds pass (0 = until stopped), then finish the archive."""
        if self.ffmpeg is None:
            raise SourceError("no source to encode")
        cfg = self.cfg
        self.store.begin(self.layout.event_id, cfg.channel, cfg.renditions, cfg.framerate, cfg.segment_type)
        self.pump.start()
        try:
            self._adopt_leftovers()
            self.slates.start()
            self.ffmpeg.start()
            ends = time.monotonic() + duration if duration else None
            while not self._stop_requested.is_set():
                if ends is not None and time.monotonic() >= ends:
                    break
                self._tick()
                self._wake.wait(POLL_INTERVAL)
            self.ffmpeg.stop()
            self.store.mark_recording_stopped(self.layout.event_id)
            self.channel.changed()  # viewers: ended
            self._finish_archive()
        finally:
            self.ffmpeg.kill()
            if self.gate is not None:
                self.gate.stop()
            self.pump.stop()
            self._write_status("stopped")

    def finish_only(self) -> None:
        """Publish the final and VOD playlists of an event whose encoder is gone (``encoder.finish``)."""
        self.pump.start()
        try:
            self._finish_archive()
        finally:
            self.pump.stop()
            self._write_status("stopped")

    def close(self) -> None:
        """Close the journal connections (the pump closes its own as it stops)."""
        for output in self.outputs:
            if output.journal is not self.journal:
                output.journal.close()
        self.journal.close()

    def _finish_archive(self) -> None:
        """The archive, and the event's state in the journal: archived, or ended and finished later by the
        reconciler the moment its last files are verified."""
        try:
            self.archive.finish()
        except ArchiveIncomplete:
            self.store.mark_ended(self.layout.event_id)
            raise
        finally:
            self.channel.changed()  # viewers: the replay, where its VOD is verified
            self.channel.step()
        if len(self.outputs) == len(self.settings.destinations()):
            self.store.mark_archived(self.layout.event_id)

    def _tick(self) -> None:
        now = self._now()
        assert self.ffmpeg is not None
        try:
            self._watch_disk()
            self.ffmpeg.check()
            self._drain()
            self._maybe_slate(now)
            for output in self.outputs:
                if output.journal.changed():  # its journal moved: something may have been verified
                    output.live.refresh_verified()
                    output.live.maybe_master()
                output.live.update(now)
            self._housekeeping(now, "paused" if self.paused_since else "live")
        except (sqlite3.Error, OSError) as exc:  # a full disk: nothing is lost, the next tick tries again
            self._say_once(f"cannot write to the spool, trying again: {exc}")
        else:
            self._say_once("")

    def _say_once(self, problem: str) -> None:
        if problem and problem != self._problem:
            log.error("%s", problem)
        elif self._problem and not problem:
            log.warning("writing to the spool works again")
        self._problem = problem

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    # Segments -------------------------------------------------------------------------------------------

    def _drain(self) -> None:
        """Journal every segment FFmpeg finished since the last look."""
        for i, watcher in enumerate(self.watchers):
            fresh = watcher.poll()
            for segment in fresh:
                self._track(i, segment)
            if fresh:
                self.pump.notify()  # per rendition: the first segment need not wait for the others
                if self.ffmpeg is not None:
                    self.ffmpeg.saw_segments()

    def _maybe_slate(self, now: float) -> None:
        """While FFmpeg is not producing (it exited, or its new run has no segment yet), list a slate in every
        rendition whenever the live edge would otherwise wait (``encoder.slate.slate_due``)."""
        ff, slates = self.ffmpeg, self.slates.ready()
        if ff is None or slates is None or ff.producing or not ff.source_ok or self.paused_since is not None:
            return
        if self._stop_requested.is_set() or not all(w.segments for w in self.watchers):
            return
        recorded_at = next((s.completed_at for s in reversed(self.watchers[0].segments) if not is_slate(s.name)), now)
        lasts = [w.segments[-1] for w in self.watchers]
        program_time = slate_due(lasts, now, self.cfg.segment_seconds, recorded_at)
        if program_time is None:
            return
        for i, watcher in enumerate(self.watchers):
            segment = watcher.add_slate(slates[watcher.rendition], self.cfg.segment_seconds, program_time, now)
            if segment is not None:
                self._track(i, segment)
        self.pump.notify()
        log.info("FFmpeg is not producing: a slate keeps the live edge moving")

    def _adopt_leftovers(self) -> None:
        for i, watcher in enumerate(self.watchers):
            for segment in watcher.adopt_leftovers():
                self._track(i, segment)
                log.warning("%s: adopted %s, finished before the last encoder stopped", watcher.rendition, segment.name)

    def _track(self, rendition: int, segment: Segment) -> None:
        if rendition == 0 and not is_slate(segment.name):
            self.speed.saw(segment.completed_at, segment.duration, new_run=segment.discontinuity)
        for output in self.outputs:
            output.live.track(output.live.edges[rendition], segment)
        self.guard.track([segment])

    def _restarted(self) -> None:
        for watcher in self.watchers:
            watcher.restarted()

    def _next_seq(self) -> int:
        """Where numbering continues: past every segment recorded and every file FFmpeg left on disk."""
        highest = self.store.max_seq(self.layout.event_id)
        seen = -1 if highest is None else highest
        for r in self.cfg.ladder:
            folder = self.spool / self.layout.rendition_dir(r.name)
            if folder.is_dir():
                for path in folder.iterdir():
                    seq = segment_seq(path.name.removesuffix(".tmp"))
                    if seq is not None:
                        seen = max(seen, seq)
        return seen + 1

    # Disk and status ------------------------------------------------------------------------------------

    def _watch_disk(self) -> None:
        """Hold the reserve: remove verified copies first, pause recording below the floor, resume above the
        floor plus the margin (with a discontinuity)."""
        mono = time.monotonic()
        if mono < self._next_disk or self.ffmpeg is None:
            return
        self._next_disk = mono + DISK_EVERY
        floor = self.cfg.min_free_mb * MIB
        resume_at = floor + self.cfg.resume_margin_mb * MIB
        free = self.guard.free_bytes()
        if free < resume_at and (free < floor or self.paused_since):
            self.guard.make_room(resume_at)
            free = self.guard.free_bytes()
        self.free_bytes = free
        if self.paused_since is None and free < floor:
            self.paused_since = self._now()
            log.error(
                "DISK FULL: %d MB free on the spool (reserve %d MB): recording paused; it resumes by itself once "
                "%d MB are free (verified uploads' copies are removed as they land)",
                free // MIB,
                floor // MIB,
                resume_at // MIB,
            )
            self.ffmpeg.pause()
            self._drain()
        elif self.paused_since is not None and free >= resume_at:
            log.warning("disk space back (%d MB free): recording resumes after a discontinuity", free // MIB)
            self.paused_since = None
            self.ffmpeg.resume()

    def _housekeeping(self, now: float, state: str) -> None:
        self.channel.step()
        mono = time.monotonic()
        if mono >= self._next_sweep:
            self._next_sweep = mono + SWEEP_EVERY
            report = self.guard.sweep(now, self.spool / self.layout.spool_root / PLAYLISTS_DIR)
            self.low_disk, self.free_bytes = report.low, report.free_bytes
        if mono >= self._next_status:
            self._next_status = mono + STATUS_EVERY
            self.speed.check(now)
            self._write_status(state)

    def status(self, state: str) -> dict[str, Any]:
        ff = self.ffmpeg
        verified = self.live.verified
        return {
            "event_id": self.layout.event_id,
            "state": state,
            "updated_at": self._now(),
            "ffmpeg_pid": self.ffmpeg_pid,
            "ffmpeg_restarts": ff.restarts if ff else 0,
            "source_lost_since": self._source_lost_since(),
            "policy": self.cfg.policy,
            "renditions": {
                e.spec.name: {
                    "segments": len(e.segments),
                    "listed_live": e.frontier,
                    "unverified": sum(1 for s in e.segments if not is_ready(s, verified)),
                }
                for e in self.live.edges
            },
            "destinations": {
                o.name: {
                    e.spec.name: {
                        "listed_live": e.frontier,
                        "unverified": sum(1 for s in e.segments if not is_ready(s, o.live.verified)),
                    }
                    for e in o.live.edges
                }
                for o in self.outputs
            },
            "speed": self.speed.ratio(),
            "slow_since": self.speed.slow_since,
            "waiting_for_redis": self.pump.waiting,
            "disk_free_bytes": self.free_bytes,
            "low_disk": self.low_disk,
            "recording_paused_since": self.paused_since,
            "waiting_bytes": self.waiting_bytes,
            "channel_master": self.layout.channel_master_key(),
            "refused_pushes": self.gate.refused.as_status() if self.gate else None,
        }

    def _source_lost_since(self) -> float | None:
        """When the source's last segment was made, while FFmpeg makes none (OBS stopped, a camera gone);
        None while it produces, before the source first worked, and while recording is paused."""
        ff = self.ffmpeg
        if ff is None or ff.producing or not ff.source_ok or self.paused_since is not None or not self.watchers:
            return None
        return next((s.completed_at for s in reversed(self.watchers[0].segments) if not is_slate(s.name)), None)

    def _write_status(self, state: str) -> None:
        """The status file, the event's heartbeat in the journal, and a finish asked for from the console."""
        try:
            self.waiting_bytes = self.journal.totals().waiting_bytes
            if state != "stopped":
                self.store.beat(self.layout.event_id, self.paused_since)
                row = self.store.event(self.layout.event_id)
                if row is not None and row.finish_requested_at and not self._stop_requested.is_set():
                    log.info("event %s: finishing, as asked", self.layout.event_id)
                    self.request_stop()
            write_encoder_status(self.spool, self.layout.spool_root, self.status(state))
        except (sqlite3.Error, OSError) as exc:
            self._say_once(f"cannot write the encoder's status, trying again: {exc}")
