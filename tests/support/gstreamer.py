"""GStreamer as an independent HLS player for the tests: `gst-launch-1.0` plays a URI into fake sinks and its
output says what happened (its bus messages with ``-m``, every decoded picture of the video sink with ``-v``).

Two HLS demuxers: hlsdemux, from gstreamer1.0-plugins-bad, which ``playbin`` plugs, and hlsdemux2, from
gstreamer1.0-plugins-good, which only ``playbin3`` plugs (the adaptivedemux2 elements are streams-aware, so
playbin's decodebin passes them over whatever their rank). Pictures and sound are decoded by
gstreamer1.0-libav. Where a piece is missing, ``missing`` says which, and which Debian package brings it, for
the test to skip with that reason.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import kill, spawn

GST_LAUNCH = shutil.which("gst-launch-1.0")
GST_INSPECT = shutil.which("gst-inspect-1.0")
PACKAGE = {
    "playbin": "gstreamer1.0-plugins-base",
    "playbin3": "gstreamer1.0-plugins-base",
    "decodebin": "gstreamer1.0-plugins-base",
    "souphttpsrc": "gstreamer1.0-plugins-good",
    "hlsdemux": "gstreamer1.0-plugins-bad",
    "hlsdemux2": "gstreamer1.0-plugins-good",
    "avdec_h264": "gstreamer1.0-libav",
    "avdec_aac": "gstreamer1.0-libav",
}
PIPELINE = {"hlsdemux": "playbin", "hlsdemux2": "playbin3"}
STOP_TIMEOUT = 10.0
GAP = 1.0  # seconds between two pictures' time stamps beyond which the clock moved (a discontinuity)
_PICTURE = re.compile(r"GstFakeSink:pictures: last-message = chain .*? pts: (\d+):(\d+):(\d+\.\d+)")
_DEMUXER = re.compile(r"from element \"(hlsdemux2?)-?\d+\"")
_ERROR = re.compile(r"^ERROR: .*|.*\(error\): .*", re.MULTILINE)
_WARNING = re.compile(r"^WARNING: .*|.*\(warning\): .*", re.MULTILINE)


def missing(demuxer: str) -> str | None:
    """Why GStreamer cannot play our HLS with ``demuxer`` (hlsdemux or hlsdemux2) here, or None if it can."""
    if GST_LAUNCH is None or GST_INSPECT is None:
        return "gst-launch-1.0 is not installed (apt-get install gstreamer1.0-tools)"
    wanted = [PIPELINE[demuxer], "decodebin", "souphttpsrc", demuxer, "avdec_h264", "avdec_aac"]
    absent = [e for e in wanted if subprocess.run([GST_INSPECT, "--exists", e], check=False).returncode != 0]
    if absent:
        packages = " ".join(sorted({PACKAGE[e] for e in absent}))
        return f"GStreamer has no {', '.join(absent)} (apt-get install {packages})"
    return None


@dataclass(frozen=True)
class GstRun:
    """What one `gst-launch-1.0` run printed, and how it ended (None: it was still playing when stopped)."""

    returncode: int | None
    output: str

    @property
    def errors(self) -> list[str]:
        return _ERROR.findall(self.output)

    @property
    def warnings(self) -> list[str]:
        return _WARNING.findall(self.output)

    @property
    def eos(self) -> bool:
        return "Got EOS from element" in self.output

    @property
    def demuxers(self) -> set[str]:
        return set(_DEMUXER.findall(self.output))

    @property
    def pictures(self) -> list[float]:
        """The time stamp of each decoded picture the video sink received, in seconds."""
        return [int(h) * 3600 + int(m) * 60 + float(s) for h, m, s in _PICTURE.findall(self.output)]

    @property
    def played(self) -> float:
        """Seconds of pictures played: the steps between consecutive time stamps, less the jumps of a
        discontinuity."""
        times = self.pictures
        return sum(b - a for a, b in zip(times, times[1:], strict=False) if 0 <= b - a <= GAP)


def _argv(demuxer: str, uri: str, real_time: bool) -> list[str]:
    """playbin (hlsdemux) or playbin3 (hlsdemux2) into fake sinks; hlsdemux as fast as it decodes in a pipeline
    of its own. There, playbin's decodebin sets its queues to post buffering messages, and gst-launch pauses
    and resumes the pipeline on each: decoding faster than real time they come in bursts, and one run in two
    stays paused (an FFmpeg-made VOD does the same); without them the same demuxer plays to the end."""
    assert GST_LAUNCH is not None
    sync = f"sync={'true' if real_time else 'false'}"
    pictures, sound = f"fakesink name=pictures silent=false {sync}", f"fakesink name=sound {sync}"
    if demuxer == "hlsdemux" and not real_time:
        return [
            GST_LAUNCH, "-m", "-v", "souphttpsrc", f"location={uri}", "!", "hlsdemux", "!", "decodebin", "name=d",
            "d.", "!", "video/x-raw", "!", "queue", "!", *pictures.split(),
            "d.", "!", "audio/x-raw", "!", "queue", "!", *sound.split(),
        ]  # fmt: skip
    return [GST_LAUNCH, "-m", "-v", PIPELINE[demuxer], f"uri={uri}", f"video-sink={pictures}", f"audio-sink={sound}"]


def play_to_end(demuxer: str, uri: str, log: Path, timeout: float) -> GstRun:
    """Play ``uri`` as fast as it decodes (no clock) until EOS or an error; killed after ``timeout`` seconds."""
    proc = spawn(_argv(demuxer, uri, real_time=False), None, log)
    try:
        code: int | None = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        code = None
    return GstRun(code, log.read_text(errors="replace"))


def play_live(demuxer: str, uri: str, log: Path, seconds: float, timeout: float) -> GstRun:
    """Play ``uri`` in real time until ``seconds`` of pictures played (or it stops, or ``timeout`` passes),
    then interrupt it as Ctrl-C does."""
    proc = spawn(_argv(demuxer, uri, real_time=True), None, log)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if GstRun(None, log.read_text(errors="replace")).played >= seconds:
            break
        time.sleep(0.5)
    code = proc.poll()
    if code is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            kill(proc)
    return GstRun(code, log.read_text(errors="replace"))
