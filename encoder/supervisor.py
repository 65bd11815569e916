"""Keep FFmpeg running for the length of an event: start it, restart it with backoff after it exits, and
kill a run that stalls. A source that never yields a segment is an error for the operator, not a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.backoff import backoff_delay
from core.encoder_settings import EncoderSection
from encoder.command import EncodePlan, ffmpeg_argv
from encoder.errors import SourceError
from encoder.ffmpegproc import FFmpegProcess
from encoder.sources import Source

log = logging.getLogger(__name__)
STABLE_RUN = 60.0  # a run this long resets the restart backoff
RESTART_BACKOFF_BASE = 1.0  # seconds before FFmpeg is started again, doubling with each quick failure ...
RESTART_BACKOFF_CAP = 30.0  # ... up to this
# FFmpeg alive but silent this many segments plus this many seconds is hung: killed and restarted.
STALL_SEGMENTS = 3
STALL_GRACE = 10.0


@dataclass(frozen=True)
class RunPlan:
    """Where one FFmpeg run writes: a folder per rendition, and its log file."""

    output_dirs: dict[str, Path]
    log_path: Path


class FFmpegSupervisor:
    """One event's FFmpeg runs, one at a time. ``check`` is called from the event's loop."""

    def __init__(
        self,
        cfg: EncoderSection,
        source: Source,
        exe: str,
        codec: str,
        plan: RunPlan,
        next_seq: Callable[[], int],
        drain: Callable[[], None],
        before_restart: Callable[[], None],
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.exe = exe
        self.codec = codec
        self.plan = plan
        self._next_seq = next_seq  # where numbering continues
        self._drain = drain  # journal what a run finished before it ended
        self._before_restart = before_restart  # the next segment follows a discontinuity
        self.proc: FFmpegProcess | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.restarts = 0
        self.recent_failures = 0
        self.last_segment_at = 0.0
        self.source_ok = False
        self.run_had_segment = False
        self.paused = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        start = self._next_seq()
        for folder in self.plan.output_dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        plan = EncodePlan(self.source, self.cfg.ladder, self.plan.output_dirs, start, self.cfg, self.codec)
        self.proc = FFmpegProcess(ffmpeg_argv(self.exe, plan), self.plan.log_path)
        self.started_at = time.monotonic()
        self.last_segment_at = self.started_at
        self.restart_at = None
        self.run_had_segment = False
        log.info("FFmpeg %d started, segments from %d (%s)", self.proc.pid, start, self.source.spec)

    @property
    def producing(self) -> bool:
        """A run is alive and has finished segments: the live edge is fed by FFmpeg."""
        return self.proc is not None and self.run_had_segment

    def saw_segments(self) -> None:
        """The current run finished segments: the source works and the run is alive."""
        self.source_ok = self.run_had_segment = True
        self.last_segment_at = time.monotonic()

    def check(self) -> None:
        """Restart a run that is due, kill one that stalled, schedule a restart for one that exited.

        Raises SourceError when the source never produced a segment: restarting would not help.
        """
        mono = time.monotonic()
        if self.paused:
            return
        if self.proc is None:
            if self.restart_at is not None and mono >= self.restart_at:
                self._before_restart()
                self.start()
            return
        code = self.proc.poll()
        if code is None:
            self._check_alive(mono)
            return
        self._drain()
        tail = self.proc.log_tail()
        ran = mono - self.started_at
        self.proc = None
        if not self.source_ok:
            raise SourceError(f"FFmpeg could not read the source (exit code {code}):\n{tail or '(no output)'}")
        self.recent_failures = 1 if ran >= STABLE_RUN else self.recent_failures + 1
        # The first exit after a good run restarts at once (the live edge is waiting); quick repeats back off.
        delay = (
            0.0
            if self.recent_failures == 1
            else backoff_delay(self.recent_failures - 2, RESTART_BACKOFF_BASE, RESTART_BACKOFF_CAP)
        )
        self.restarts += 1
        self.restart_at = mono + delay
        log.warning(
            "FFmpeg exited (code %s) after %.1f s; restart %d in %.1f s: %s", code, ran, self.restarts, delay, tail
        )

    def _check_alive(self, mono: float) -> None:
        assert self.proc is not None
        silent = mono - self.last_segment_at
        if not self.source_ok and not self.source.waits_for_push:
            limit = self.cfg.source_timeout + 2 * self.cfg.segment_seconds
            if silent > limit:
                tail = self.proc.log_tail()
                self.proc.kill()
                raise SourceError(f"no media from source {self.source.spec!r} within {limit:.0f} s\n{tail}")
        elif self.source_ok and silent > self.stall_deadline and self._may_stall_kill():
            log.warning("FFmpeg %d wrote nothing for %.0f s: killing it to restart", self.proc.pid, silent)
            self.proc.kill()

    @property
    def stall_deadline(self) -> float:
        """Seconds of silence after which a running FFmpeg counts as hung."""
        return STALL_SEGMENTS * self.cfg.segment_seconds + STALL_GRACE

    def _may_stall_kill(self) -> bool:
        """A listener waiting for the next push (OBS reconnecting) is idle, not hung."""
        return self.run_had_segment or not self.source.waits_for_push

    def stop(self) -> None:
        """End the current run cleanly (FFmpeg writes its last segment), then journal what it finished."""
        if self.proc is not None:
            code = self.proc.stop()
            log.info("FFmpeg stopped (code %s)", code)
            self.proc = None
        self._drain()

    def pause(self) -> None:
        """Stop recording until ``resume`` (the disk is full); the event stays open."""
        self.paused = True
        self.restart_at = None
        self.stop()

    def resume(self) -> None:
        """Record again, after a discontinuity."""
        self.paused = False
        self._before_restart()
        self.start()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
