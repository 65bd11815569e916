"""OBS's way in: an FFmpeg process pushes RTMP or SRT to `surecast encode`'s listener, stops, and pushes again.

The pusher is what OBS does on "Start Streaming" (H.264 + AAC over RTMP in FLV, or MPEG-TS over SRT as a
caller); it is started only once the listener answers, and started again after a pause, as OBS reconnects.
Both pushes land in one event, the second after a discontinuity, and the VOD decodes over HTTP.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from encoder.ffmpegproc import find_ffmpeg
from tests.integration.test_encoder_live import (
    PREFIX,
    assert_archive_complete,
    decoded_seconds,
    encoded_seconds,
    get_text,
    start_encoder,
)
from tests.support.procs import free_port, log_tail, spawn, terminate, wait_until
from tests.support.stack import Stack

PUSH_SECONDS = 10
CONNECT_TRIES = 40  # one every 0.5 s: the listener is up within 20 s


def _pusher_command(url: str, container: str, seconds: int) -> list[str]:
    return [
        find_ffmpeg(""), "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-g", "50", "-keyint_min", "50", "-pix_fmt", "yuv420p", "-b:v", "800k",
        "-c:a", "aac", "-b:a", "96k", "-f", container, url,
    ]  # fmt: skip


def _push(stack: Stack, url: str, container: str, seconds: int, name: str) -> None:
    """Push for ``seconds``, retrying the connection while the listener is not up yet (bounded)."""
    log = stack.tmp / f"{name}.log"
    for _ in range(CONNECT_TRIES):
        began = time.monotonic()
        proc = spawn(_pusher_command(url, container, seconds), None, log)
        try:
            code = proc.wait(seconds + 30)
        except subprocess.TimeoutExpired:
            terminate(proc)
            raise AssertionError(f"{name} did not end:\n{log_tail(log)}") from None
        if code == 0 and time.monotonic() - began >= seconds * 0.8:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} never pushed {seconds} s:\n{log_tail(log)}")


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("protocol", "container"),
    [("rtmp", "flv"), ("srt", "mpegts")],
)
def test_a_pushed_stream_is_delivered_and_a_second_push_continues_the_event(
    stack: Stack, protocol: str, container: str
) -> None:
    stack.start_worker()
    port = free_port()
    if protocol == "rtmp":
        listen, push = f"rtmp://127.0.0.1:{port}/live/venue-key", f"rtmp://127.0.0.1:{port}/live/venue-key"
    else:
        listen, push = f"srt://127.0.0.1:{port}", f"srt://127.0.0.1:{port}?mode=caller"
    encoder = start_encoder(stack, 600, {"SURECAST_ENCODER_SOURCE": listen})
    try:
        _push(stack, push, container, PUSH_SECONDS, "push-1")
        first = wait_until(encoder.segments, 30, 0.5, f"no segment from the first push\n{encoder.output()[-3000:]}")
        time.sleep(2)  # the operator pauses: OBS's "Stop Streaming", then "Start Streaming"
        _push(stack, push, container, PUSH_SECONDS, "push-2")
        wait_until(
            lambda: encoder.segments() > first + 2,
            30,
            0.5,
            f"no segment from the second push\n{encoder.output()[-3000:]}",
        )
    finally:
        encoder.proc.send_signal(signal.SIGTERM)
    assert encoder.wait(90) == 0, encoder.output()[-3000:]
    entries = assert_archive_complete(stack)
    assert sum(disc for _, _, disc in entries) >= 1, "the second push must follow a discontinuity"
    vod = get_text(stack, f"{PREFIX}/180p/vod.m3u8")
    assert vod is not None
    recorded = encoded_seconds(vod)
    assert recorded >= 1.5 * PUSH_SECONDS, f"only {recorded:.1f} s recorded of two {PUSH_SECONDS} s pushes"
    assert decoded_seconds(stack, f"{PREFIX}/180p/vod.m3u8") >= recorded - 2
