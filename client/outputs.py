"""Where verified segments go: an FFmpeg decode check, a recording file, ffplay. (serve.py: LAN HLS.)

Every output receives segments in playback order with a flag saying the timeline breaks before it
(EXT-X-DISCONTINUITY, a gap, a new init segment). FFmpeg and ffplay read one continuous stream on
stdin; the check starts a fresh decoder at each break so timestamps restarting is not an error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from client.errors import OutputError, Stopped
from client.items import GapItem, Init, SegmentItem
from core.ffmpeg import FFmpegMissing
from core.ffmpeg import find_ffmpeg as ffmpeg_binary

log = logging.getLogger(__name__)

DECODER_EXIT_TIMEOUT = 60.0
PLAYER_EXIT_MARGIN = 30.0


class Output(Protocol):
    def segment(self, item: SegmentItem, breaks: bool) -> None:
        """Take the next segment; ``breaks``: the timeline is not continuous with the previous one."""
        ...

    def gap(self, item: GapItem) -> None: ...

    def finish(self, ended: bool) -> None:
        """No more segments: flush and wait (bounded) for whatever consumes them."""
        ...

    def close(self) -> None:
        """Release everything at once (after an error or an interrupt)."""
        ...


def find_ffmpeg(configured: str) -> str:
    """The FFmpeg for --check (``core.ffmpeg.find_ffmpeg``), its absence an output error."""
    try:
        return ffmpeg_binary(configured, "SURECAST_CLIENT_FFMPEG_PATH")
    except FFmpegMissing as exc:
        raise OutputError(str(exc)) from exc


def decode_argv(ffmpeg: str) -> list[str]:
    """Decode stdin to nothing; errors on stderr, progress (frames, time) on stdout."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1",
        "-i", "pipe:0", "-f", "null", "-",
    ]  # fmt: skip


def parse_progress(lines: list[str]) -> tuple[int, float]:
    """Frames decoded and seconds of output from FFmpeg's ``-progress`` lines (the last values win)."""
    frames, seconds = 0, 0.0
    for line in lines:
        name, _, value = line.strip().partition("=")
        if name == "frame" and value.isdigit():
            frames = int(value)
        elif name == "out_time_us" and value.lstrip("-").isdigit():
            seconds = max(0.0, int(value) / 1e6)
    return frames, seconds


@dataclass
class _DecodeRun:
    proc: subprocess.Popen[bytes]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)
    init: Init | None = None

    @classmethod
    def start(cls, argv: list[str]) -> _DecodeRun:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise OutputError(f"cannot start FFmpeg {argv[0]}: {exc}") from exc
        run = cls(proc)
        for stream, sink in ((proc.stdout, run.stdout), (proc.stderr, run.stderr)):
            t = threading.Thread(target=_drain, args=(stream, sink), daemon=True)
            t.start()
            run.readers.append(t)
        return run

    def write(self, data: bytes) -> bool:
        """False once FFmpeg no longer reads (it exited)."""
        stdin = self.proc.stdin
        if stdin is None:
            return False
        try:
            stdin.write(data)
            return True
        except (BrokenPipeError, ValueError):
            return False

    def end(self) -> tuple[int, float, list[str]]:
        if self.proc.stdin:
            with contextlib.suppress(BrokenPipeError):  # FFmpeg already exited; its stderr says why
                self.proc.stdin.close()
        try:
            code = self.proc.wait(DECODER_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
            self.stderr.append(f"FFmpeg did not finish decoding within {DECODER_EXIT_TIMEOUT:g} s")
        for t in self.readers:
            t.join(5)
        errors = [line for line in self.stderr if line.strip()]
        if code != 0 and not errors:
            errors.append(f"FFmpeg exited with {code}")
        frames, seconds = parse_progress(self.stdout)
        return frames, seconds, errors


def _drain(stream: IO[bytes] | None, sink: list[str]) -> None:
    if stream is None:
        return
    for raw in stream:
        sink.append(raw.decode(errors="replace").rstrip())


class CheckOutput:
    """Decode everything with FFmpeg, display nothing; collect frames, seconds and error lines."""

    def __init__(self, ffmpeg: str) -> None:
        self.argv = decode_argv(ffmpeg)
        self._run: _DecodeRun | None = None
        self.frames = 0
        self.seconds = 0.0
        self.errors: list[str] = []

    def segment(self, item: SegmentItem, breaks: bool) -> None:
        if self._run is None or breaks or item.init != self._run.init:
            self._end_run()
            self._run = _DecodeRun.start(self.argv)
            self._run.init = item.init
            if item.init:
                self._write(item.init.body, item.init.name)
        self._write(item.body, item.entry.name)

    def _write(self, data: bytes, name: str) -> None:
        assert self._run is not None
        if not self._run.write(data):
            log.error("FFmpeg stopped reading at %s", name)
            self._end_run()
            self.errors.append(f"FFmpeg stopped reading at {name}")

    def gap(self, item: GapItem) -> None:
        self._end_run()

    def finish(self, ended: bool) -> None:
        self._end_run()

    def close(self) -> None:
        # Decoding what was already handed over takes a moment; its figures still belong in the report.
        self._end_run()

    def _end_run(self) -> None:
        if self._run is None:
            return
        run, self._run = self._run, None
        frames, seconds, errors = run.end()
        self.frames += frames
        self.seconds += seconds
        self.errors.extend(errors)


class RecordOutput:
    """Append every segment to one local file (MPEG-TS segments concatenate into a playable .ts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file: IO[bytes] = path.open("wb")
        except OSError as exc:
            raise OutputError(f"cannot write the recording {path}: {exc.strerror or exc}") from exc
        self._init: Init | None = None

    def segment(self, item: SegmentItem, breaks: bool) -> None:
        try:
            if item.init and item.init != self._init:
                self._file.write(item.init.body)
                self._init = item.init
            self._file.write(item.body)
        except OSError as exc:
            raise OutputError(f"cannot write the recording {self.path}: {exc.strerror or exc}") from exc

    def gap(self, item: GapItem) -> None:
        return None

    def finish(self, ended: bool) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise OutputError(f"cannot write the recording {self.path}: {exc.strerror or exc}") from exc
        finally:
            self._file.close()

    def close(self) -> None:
        self._file.close()


def find_ffplay(configured: str) -> str:
    found = configured or shutil.which("ffplay")
    if not found:
        raise OutputError(
            "ffplay not found on PATH (it comes with FFmpeg, e.g. apt install ffmpeg); "
            "set SURECAST_CLIENT_FFPLAY_PATH, or use --output record or --output serve"
        )
    return found


class PlayOutput:
    """Hand the stream to ffplay on stdin; closing its window stops the client."""

    def __init__(self, ffplay: str, title: str) -> None:
        argv = [ffplay, "-hide_banner", "-loglevel", "error", "-autoexit", "-window_title", title, "-i", "pipe:0"]
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE)
        except OSError as exc:
            raise OutputError(f"cannot start ffplay {ffplay}: {exc}") from exc
        self._init: Init | None = None
        self._queued = 0.0

    def segment(self, item: SegmentItem, breaks: bool) -> None:
        data = item.body
        if item.init and item.init != self._init:
            data = item.init.body + data
            self._init = item.init
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise Stopped("ffplay was closed") from exc
        self._queued += item.duration

    def gap(self, item: GapItem) -> None:
        return None

    def finish(self, ended: bool) -> None:
        if self.proc.stdin:
            with contextlib.suppress(BrokenPipeError):  # ffplay already closed
                self.proc.stdin.close()
        try:
            self.proc.wait(self._queued + PLAYER_EXIT_MARGIN)
        except subprocess.TimeoutExpired:
            self.proc.terminate()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
