"""One live event: supervise FFmpeg, journal what it finishes, publish playlists, finish the archive.

The loop runs every ``poll_interval`` seconds in one thread; publishing to Redis runs in another
(``PublishPump``), so neither Redis nor S3 can slow readiness, and FFmpeg (a separate process writing
only to the spool) never waits for anything here.

    FFmpeg ──writes──> spool ──RenditionWatcher──> journal ──PublishPump──> Redis ──> workers ──> S3
                                                      │ verified
    live/VOD playlists <──PlaylistWriter <── timeline ┘
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder.command import EncodePlan, codecs_attribute, ffmpeg_argv
from encoder.config import EncoderSection, Rendition
from encoder.diskguard import DiskGuard
from encoder.errors import ArchiveIncomplete, SourceError
from encoder.ffmpegproc import FFmpegProcess
from encoder.ingest import Ingest, RenditionWatcher
from encoder.keys import PLAYLISTS_DIR, EventLayout, media_uri, segment_seq
from encoder.playlists import Variant, render_master_playlist, render_media_playlist, target_duration
from encoder.playlistwriter import PlaylistWriter, write_durably
from encoder.pump import PublishPump
from encoder.sources import Source
from encoder.store import SegmentStore
from encoder.timeline import Entry, Segment, advance_frontier, all_ready, discontinuities_before, is_ready, live_window
from surecast.settings import Settings
from uploader.backoff import backoff_delay
from uploader.contract import PRIORITY_BACKFILL
from uploader.journal import Journal

log = logging.getLogger(__name__)
STATUS_NAME = "encoder-status.json"
STATUS_EVERY = 1.0
SWEEP_EVERY = 5.0
STABLE_RUN = 60.0  # a run this long resets the restart backoff


@dataclass
class _Rendition:
    spec: Rendition
    watcher: RenditionWatcher
    frontier: int = 0
    dirty: bool = True
    target: int = 0

    @property
    def segments(self) -> list[Segment]:
        return self.watcher.segments


@dataclass
class _FFmpegState:
    proc: FFmpegProcess | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    recent_failures: int = 0
    last_segment_at: float = 0.0
    source_ok: bool = False
    run_had_segment: bool = False


class LiveEvent:
    """Runs one event from the first FFmpeg start to the uploaded VOD playlist."""

    def __init__(
        self,
        settings: Settings,
        event_id: str,
        source: Source | None,
        ffmpeg_exe: str = "",
        codec: str = "libx264",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.cfg: EncoderSection = settings.encoder
        self.spool = Path(settings.spool.dir).resolve()
        self.layout = EventLayout(settings.s3.prefix, event_id)
        self.source = source
        self.exe = ffmpeg_exe
        self.codec = codec
        self._now = clock
        self._wake = threading.Event()
        self._stop_requested = threading.Event()
        self._abort = threading.Event()
        self.journal = Journal(self.spool)
        self.store = SegmentStore(self.spool)
        self.pump = PublishPump(settings, self.cfg.republish_interval)
        self.writer = PlaylistWriter(
            self.spool,
            self.layout,
            self.journal,
            self.pump.notify,
            clock,
            supersede_after=max(1.0, self.cfg.segment_seconds),
        )
        ctx = Ingest(self.spool, event_id, self.layout, self.journal, self.store, clock)
        self.renditions = [
            _Rendition(r, RenditionWatcher(ctx, r.name, self.store.load(event_id, r.name))) for r in self.cfg.ladder
        ]
        self.guard = DiskGuard(self.spool, self.store, settings.spool.retention_seconds, self.cfg.min_free_mb * 2**20)
        self.ff = _FFmpegState()
        self.verified: set[str] = set()
        self.pending: set[str] = set()
        for r in self.renditions:
            self.pending.update(k for s in r.segments for k in s.object_keys())
            self.guard.track(r.segments)
            r.frontier = len(r.segments)  # a resumed event's earlier segments were listed before
        self.master_sent = False
        self.low_disk = False
        self.free_bytes = 0
        self._next_status = 0.0
        self._next_sweep = 0.0

    # Control (safe from signal handlers and other threads) ----------------------------------------------

    def request_stop(self) -> None:
        """End the event: the first call finishes cleanly, a second stops waiting for uploads."""
        if self._stop_requested.is_set():
            self._abort.set()
        self._stop_requested.set()
        self._wake.set()

    @property
    def ffmpeg_pid(self) -> int | None:
        return self.ff.proc.pid if self.ff.proc else None

    # The event ------------------------------------------------------------------------------------------

    def run(self, duration: float = 0.0) -> None:
        """Encode until ``duration`` seconds pass (0 = until stopped), then finish the archive."""
        if self.source is None:
            raise SourceError("no source to encode")
        self.pump.start()
        try:
            self._start_ffmpeg()
            ends = time.monotonic() + duration if duration else None
            while not self._stop_requested.is_set():
                if ends is not None and time.monotonic() >= ends:
                    break
                self._tick()
                self._wake.wait(self.cfg.poll_interval)
            self._stop_ffmpeg()
            self._finish()
        finally:
            if self.ff.proc is not None:
                self.ff.proc.kill()
            self.pump.stop()
            self._write_status("stopped")

    def finish_only(self) -> None:
        """Publish the final and VOD playlists of an event whose encoder is gone (``surecast finish-event``)."""
        self.pump.start()
        try:
            self._finish()
        finally:
            self.pump.stop()
            self._write_status("stopped")

    def _tick(self) -> None:
        now = self._now()
        self._supervise(now)
        self._ingest(now)
        if self.store.changed():  # the journal moved: something may have been verified
            self._refresh_verified()
            self._maybe_master()
        self._update_live(now)
        self._housekeeping(now, "live")

    # FFmpeg ---------------------------------------------------------------------------------------------

    def _start_ffmpeg(self) -> None:
        assert self.source is not None
        start = self._next_seq()
        dirs = {r.spec.name: self.spool / self.layout.rendition_dir(r.spec.name) for r in self.renditions}
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        plan = EncodePlan(self.source, self.cfg.ladder, dirs, start, self.cfg, self.codec)
        log_path = self.spool / self.layout.spool_root / "ffmpeg.log"
        self.ff.proc = FFmpegProcess(ffmpeg_argv(self.exe, plan), log_path)
        self.ff.started_at = time.monotonic()
        self.ff.last_segment_at = self.ff.started_at
        self.ff.restart_at = None
        self.ff.run_had_segment = False
        log.info("FFmpeg %d started, segments from %d (%s)", self.ff.proc.pid, start, self.source.spec)

    def _next_seq(self) -> int:
        """Where numbering continues: past every segment recorded and every file FFmpeg left on disk."""
        highest = self.store.max_seq(self.layout.event_id)
        seen = -1 if highest is None else highest
        for r in self.renditions:
            folder = self.spool / self.layout.rendition_dir(r.spec.name)
            if folder.is_dir():
                for path in folder.iterdir():
                    seq = segment_seq(path.name.removesuffix(".tmp"))
                    if seq is not None:
                        seen = max(seen, seq)
        return seen + 1

    def _supervise(self, now: float) -> None:
        ff = self.ff
        mono = time.monotonic()
        if ff.proc is None:
            if ff.restart_at is not None and mono >= ff.restart_at:
                for r in self.renditions:
                    r.watcher.restarted()
                self._start_ffmpeg()
            return
        code = ff.proc.poll()
        if code is None:
            assert self.source is not None
            silent = mono - ff.last_segment_at
            if not ff.source_ok and not self.source.waits_for_push:
                limit = self.cfg.source_timeout + 2 * self.cfg.segment_seconds
                if silent > limit:
                    tail = ff.proc.log_tail()
                    ff.proc.kill()
                    raise SourceError(f"no media from source {self.source.spec!r} within {limit:.0f} s\n{tail}")
            elif ff.source_ok and silent > self.cfg.stall_deadline and self._may_stall_kill():
                log.warning("FFmpeg %d wrote nothing for %.0f s: killing it to restart", ff.proc.pid, silent)
                ff.proc.kill()
            return
        self._ingest(now)  # whatever the run finished before it ended
        tail = ff.proc.log_tail()
        ran = mono - ff.started_at
        ff.proc = None
        if not ff.source_ok:
            raise SourceError(f"FFmpeg could not read the source (exit code {code}):\n{tail or '(no output)'}")
        ff.recent_failures = 0 if ran >= STABLE_RUN else ff.recent_failures + 1
        delay = backoff_delay(ff.recent_failures, self.cfg.restart_backoff_base, self.cfg.restart_backoff_cap)
        ff.restarts += 1
        ff.restart_at = mono + delay
        log.warning(
            "FFmpeg exited (code %s) after %.1f s; restart %d in %.1f s: %s", code, ran, ff.restarts, delay, tail
        )

    def _may_stall_kill(self) -> bool:
        """A listener waiting for the next push (OBS reconnecting) is idle, not hung."""
        assert self.source is not None
        return self.ff.run_had_segment or not self.source.waits_for_push

    def _stop_ffmpeg(self) -> None:
        if self.ff.proc is not None:
            code = self.ff.proc.stop()
            log.info("FFmpeg stopped (code %s)", code)
            self.ff.proc = None
        self._ingest(self._now())

    # Segments and playlists -----------------------------------------------------------------------------

    def _ingest(self, now: float) -> None:
        for r in self.renditions:
            fresh = r.watcher.poll()
            for segment in fresh:
                self.pending.update(segment.object_keys())
                self.guard.track([segment])
                r.target = max(r.target, target_duration([segment.duration], self.cfg.target_duration))
                r.dirty = True
            if fresh:
                self.pump.notify()  # per rendition: the first segment need not wait for the others
                self.ff.source_ok = self.ff.run_had_segment = True
                self.ff.last_segment_at = time.monotonic()

    def _refresh_verified(self) -> None:
        if not self.pending:
            return
        landed = self.store.verified(self.pending)
        if not landed:
            return
        self.pending -= landed
        self.verified |= landed
        for r in self.renditions:
            r.dirty = True

    def _update_live(self, now: float, ended: bool = False) -> None:
        cfg = self.cfg
        delay = 0.0 if ended else cfg.publish_delay  # the final playlist lists everything
        for r in self.renditions:
            frontier = advance_frontier(r.segments, r.frontier, self.verified, cfg.policy, now, delay, cfg.gap_deadline)
            if frontier != r.frontier:
                skipped = [s for s in r.segments[r.frontier : frontier] if not is_ready(s, self.verified)]
                if skipped:
                    self.store.demote([k for s in skipped for k in s.object_keys()], PRIORITY_BACKFILL)
                    log.warning("%s: live edge passed %d missing segment(s) with EXT-X-GAP", r.spec.name, len(skipped))
                r.frontier = frontier
                r.dirty = True
            if not (r.dirty or ended) or r.frontier == 0:
                continue
            r.dirty = False
            entries, first = live_window(r.segments, r.frontier, cfg.live_window, self.verified)
            text = render_media_playlist(
                entries,
                target=max(r.target, cfg.target_duration),
                media_sequence=first,
                discontinuity_sequence=discontinuities_before(r.segments, first),
                ended=ended,
            )
            self.writer.offer(self.layout.live_key(r.spec.name), text, force=ended)
        self.writer.flush()

    def _variants(self, vod: bool) -> list[Variant]:
        return [
            Variant(
                media_uri(r.spec.name, vod),
                r.spec.bandwidth,
                r.spec.width,
                r.spec.height,
                float(self.cfg.framerate),
                codecs_attribute(r.spec, self.cfg.framerate),
            )
            for r in self.renditions
        ]

    def _maybe_master(self) -> None:
        """The master goes out once every rendition's live playlist is in the bucket: no 404 behind it."""
        if self.master_sent:
            return
        if all(self.writer.landed(self.layout.live_key(r.spec.name)) for r in self.renditions):
            self.writer.offer(self.layout.master_key(), render_master_playlist(self._variants(vod=False)))
            self.master_sent = True

    # The end --------------------------------------------------------------------------------------------

    def _finish(self) -> None:
        """Wait until every segment is verified, then publish the final live playlists and the VOD."""
        deadline = time.monotonic() + self.cfg.final_wait
        everything = [s for r in self.renditions for s in r.segments]
        if not everything:
            log.warning("event %s ended without a single segment: no playlist to publish", self.layout.event_id)
            return
        log.info("event %s ended: %d segment file(s); waiting for the archive", self.layout.event_id, len(everything))
        while not all_ready(everything, self.verified):
            self._refresh_verified()
            self._update_live(self._now())
            self._maybe_master()
            self._housekeeping(self._now(), "finishing")
            failed = self.store.failed(self.pending)
            if failed or self._abort.is_set() or time.monotonic() >= deadline:
                self._give_up(everything, failed)
            self._wake.wait(self.cfg.poll_interval)
            self._wake.clear()
        self._update_live(self._now(), ended=True)
        for r in self.renditions:
            vod = render_media_playlist(
                [Entry(s) for s in r.segments], target=max(r.target, self.cfg.target_duration), vod=True
            )
            self.writer.offer(self.layout.vod_key(r.spec.name), vod, force=True)
        self.writer.offer(
            self.layout.master_key(vod=True), render_master_playlist(self._variants(vod=True)), force=True
        )
        keys = [self.layout.vod_key(r.spec.name) for r in self.renditions]
        keys += [self.layout.live_key(r.spec.name) for r in self.renditions]
        keys.append(self.layout.master_key(vod=True))
        while not all(self.writer.settled(k) for k in keys):
            self._maybe_master()
            self.writer.flush()
            if self._abort.is_set() or time.monotonic() >= deadline:
                raise ArchiveIncomplete(
                    f"event {self.layout.event_id}: the VOD playlists were not verified in time; they stay "
                    f"journaled and the workers keep delivering them"
                )
            self._wake.wait(self.cfg.poll_interval)
            self._wake.clear()
        self._maybe_master()
        log.info("event %s archived: VOD playlist %s", self.layout.event_id, self.layout.master_key(vod=True))

    def _give_up(self, everything: list[Segment], failed: dict[str, str]) -> None:
        missing = [s for s in everything if not is_ready(s, self.verified)]
        reasons = "; ".join(f"{k}: {why}" for k, why in list(failed.items())[:5])
        raise ArchiveIncomplete(
            f"event {self.layout.event_id}: {len(missing)} segment(s) not verified"
            + (f" ({len(failed)} failed permanently: {reasons})" if failed else "")
            + "; they stay journaled. Once delivered (`surecast status`, `surecast retry-failed`), run "
            f"`surecast finish-event {self.layout.event_id}` to publish the VOD playlist."
        )

    # Housekeeping ---------------------------------------------------------------------------------------

    def _housekeeping(self, now: float, state: str) -> None:
        mono = time.monotonic()
        if mono >= self._next_sweep:
            self._next_sweep = mono + SWEEP_EVERY
            report = self.guard.sweep(now, self.spool / self.layout.spool_root / PLAYLISTS_DIR)
            self.low_disk, self.free_bytes = report.low, report.free_bytes
        if mono >= self._next_status:
            self._next_status = mono + STATUS_EVERY
            self._write_status(state)

    def status(self, state: str) -> dict[str, Any]:
        return {
            "event_id": self.layout.event_id,
            "state": state,
            "updated_at": self._now(),
            "ffmpeg_pid": self.ffmpeg_pid,
            "ffmpeg_restarts": self.ff.restarts,
            "policy": self.cfg.policy,
            "renditions": {
                r.spec.name: {
                    "segments": len(r.segments),
                    "listed_live": r.frontier,
                    "unverified": sum(1 for s in r.segments if not is_ready(s, self.verified)),
                }
                for r in self.renditions
            },
            "waiting_for_redis": self.pump.waiting,
            "disk_free_bytes": self.free_bytes,
            "low_disk": self.low_disk,
        }

    def _write_status(self, state: str) -> None:
        data = json.dumps(self.status(state), indent=2).encode()
        write_durably(self.spool / self.layout.spool_root / STATUS_NAME, data, sync=False)
        write_durably(self.spool / STATUS_NAME, data, sync=False)
