"""Run FFmpeg: find the binary, probe a hardware encoder, check the source, start and stop the process.

FFmpeg runs in its own session (a Ctrl-C in the terminal reaches the encoder, which then ends the
event in order) and, on Linux, is killed by the kernel if the encoder dies, so no orphan keeps encoding.
Its stderr goes to a log file in the event folder; the last lines explain a failure.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from core.ffmpeg import FFmpegMissing
from core.ffmpeg import find_ffmpeg as ffmpeg_binary
from encoder.command import SOFTWARE_CODEC, codec_for, probe_encoder_argv
from encoder.errors import FFmpegNotFound, SourceError
from encoder.ingest_keys import redact_argv
from encoder.sources import Source

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
KILL_TIMEOUT = 5.0
LOG_TAIL_LINES = 8
_PR_SET_PDEATHSIG = 1


def find_ffmpeg(configured: str) -> str:
    """The FFmpeg to run (``core.ffmpeg.find_ffmpeg``), its absence an encoder error."""
    try:
        return ffmpeg_binary(configured, "SURECAST_ENCODER_FFMPEG_PATH")
    except FFmpegMissing as exc:
        raise FFmpegNotFound(str(exc)) from exc


def resolve_codec(executable: str, hardware: str, vaapi_device: str) -> str:
    """The H.264 encoder to use; a hardware encoder that fails a one-frame probe falls back to libx264."""
    if hardware == "none":
        return SOFTWARE_CODEC
    candidates = ["nvenc", "qsv", "vaapi"] if hardware == "auto" else [hardware]
    for name in candidates:
        codec = codec_for(name)
        argv = probe_encoder_argv(executable, codec, vaapi_device)
        try:
            result = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            log.warning("hardware encoder %s did not answer within %.0f s", codec, PROBE_TIMEOUT)
            continue
        if result.returncode == 0:
            log.info("using hardware encoder %s", codec)
            return codec
        reason = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        log.warning("hardware encoder %s unavailable (%s)", codec, reason[0])
    log.warning("falling back to software encoding with %s", SOFTWARE_CODEC)
    return SOFTWARE_CODEC


def precheck_source(source: Source) -> None:
    """Fail fast, with a clear message, on a source that cannot work: a missing file or device."""
    path = source.local_file
    if path is not None:
        if not Path(path).is_file():
            raise SourceError(f"source file {path} does not exist")
        if not os.access(path, os.R_OK):
            raise SourceError(f"source file {path} is not readable")
    device = source.device
    if device is not None and not Path(device).exists():
        raise SourceError(f"capture device {device} does not exist")


def _child_setup() -> None:
    """In the child before exec: a session of its own, and death when the encoder dies (Linux)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class FFmpegProcess:
    """One FFmpeg run."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as sink:
            sink.write(f"--- {redact_argv(argv)}\n".encode())  # no stream key or passphrase in the log
            sink.flush()
            self._proc = subprocess.Popen(  # noqa: S603 - argv is built by encoder.command, no shell
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                preexec_fn=_child_setup,  # noqa: PLW1509 - setsid and pdeathsig only
            )
        self.pid = self._proc.pid

    def poll(self) -> int | None:
        return self._proc.poll()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Ask FFmpeg to finish (SIGINT writes the last segment and ENDLIST); kill it if it takes too long."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                return self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("FFmpeg %d did not finish within %.0f s, killing it", self.pid, timeout)
        return self.kill()

    def kill(self) -> int | None:
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            return self._proc.wait(KILL_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.error("FFmpeg %d survived SIGKILL for %.0f s", self.pid, KILL_TIMEOUT)
            return None

    def log_tail(self) -> str:
        """FFmpeg's last messages, for an error report."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        this_run = text.rsplit("--- ", 1)[-1].splitlines()[1:]
        return "\n".join(line for line in this_run[-LOG_TAIL_LINES:] if line.strip())
