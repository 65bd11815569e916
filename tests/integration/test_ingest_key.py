"""The ingest door locked: FFmpeg pushes as OBS does, with the right key, a wrong one, and none.

A wrong RTMP key is refused by the ingest gate before anything reaches FFmpeg: nothing of that push is in the
spool or the bucket, the refusal is logged once with the sender's address and counted in the status file, and
a wrong attempt in the middle of the real stream costs it nothing. An SRT caller without the passphrase is
refused by libsrt. A listener beyond loopback without a key does not start. Each test prints the figures the
closing note quotes (FIGURE lines: run with -s to see them).
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import threading
import time

import pytest

from journal.events import EventStore
from stack.credentials import credentials_path, stack_ingest_key
from tests.integration.test_encoder_live import (
    EVENT,
    PREFIX,
    Encoder,
    assert_archive_complete,
    decoded_seconds,
    encoded_seconds,
    get_text,
    start_encoder,
)
from tests.integration.test_ingest_push import _push, _pusher_command
from tests.support.procs import free_port, log_tail, spawn, terminate, wait_until
from tests.support.stack import BIN, Stack

SEGMENT = 2.0  # SURECAST_ENCODER_SEGMENT_SECONDS of start_encoder
WRONG_KEY = "guest-wifi-guess-7731"
SRT_PASSPHRASE = "srt-passphrase-0123"


def _push_once(stack: Stack, url: str, container: str, seconds: int, name: str) -> tuple[int, float, str]:
    """One push attempt, no retry: (exit code, seconds it ran, its log)."""
    log = stack.tmp / f"{name}.log"
    began = time.monotonic()
    proc = spawn(_pusher_command(url, container, seconds), None, log)
    try:
        code = proc.wait(seconds + 30)
    except subprocess.TimeoutExpired:
        terminate(proc)
        raise AssertionError(f"{name} did not end:\n{log_tail(log)}") from None
    return code, time.monotonic() - began, log_tail(log)


def _spool_segments(stack: Stack) -> list[str]:
    return sorted(str(p.relative_to(stack.spool)) for p in (stack.spool / "events").rglob("seg_*"))


def _bucket_keys(stack: Stack) -> list[str]:
    found = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"{PREFIX}/").get("Contents", [])
    return sorted(str(o["Key"]) for o in found)


def _nothing_recorded(stack: Stack, encoder: Encoder, what: str) -> None:
    """After a refused push: no segment in the spool or the bucket, FFmpeg never restarted."""
    time.sleep(3 * SEGMENT)  # a push that got through would have finished a segment by now
    spool, bucket = _spool_segments(stack), _bucket_keys(stack)
    segments = [k for k in bucket if k.rsplit("/", 1)[-1].startswith("seg_")]
    print(f"FIGURE {what}: {len(spool)} segment files in the spool, {len(segments)} segments in the bucket")
    print(f"FIGURE {what}: objects under {PREFIX}/ in the bucket: {bucket or 'none'}")
    assert spool == [] and segments == [], f"{what} left {spool} {segments}"
    assert encoder.proc.poll() is None, encoder.output()[-3000:]
    assert encoder.status().get("ffmpeg_restarts", 0) == 0


def _assert_recorded(stack: Stack, seconds: float) -> list[tuple[str, bool, bool]]:
    entries = assert_archive_complete(stack)
    vod = get_text(stack, f"{PREFIX}/180p/vod.m3u8")
    assert vod is not None
    recorded = encoded_seconds(vod)
    assert recorded >= 0.7 * seconds, f"only {recorded:.1f} s recorded of {seconds:.0f} s pushed"
    assert decoded_seconds(stack, f"{PREFIX}/180p/vod.m3u8") >= recorded - 2
    return entries


@pytest.mark.timeout(300)
def test_a_wrong_rtmp_key_is_refused_and_leaves_nothing_and_the_right_one_is_recorded_untouched(stack: Stack) -> None:
    """The generated key on 0.0.0.0 (the compose stack's case); wrong keys before and during the real stream."""
    push_seconds = 24
    stack.start_worker()
    port = free_port()
    encoder = start_encoder(stack, 600, {"SURECAST_ENCODER_SOURCE": f"rtmp://0.0.0.0:{port}/live"})
    url = f"rtmp://127.0.0.1:{port}/live"
    try:
        wait_until(lambda: "ingest gate on" in encoder.output(), 60, 0.2, f"no gate\n{encoder.output()[-3000:]}")
        key, created = stack_ingest_key(stack.spool)
        assert not created, "the encoder generates the key"
        assert "Stream Key: the ingest key (`surecast credentials` prints it)" in encoder.output()

        code, ran, log = _push_once(stack, f"{url}/{WRONG_KEY}", "flv", 6, "wrong-before")
        print(f"FIGURE wrong key before the stream: the pusher stopped after {ran:.1f} s (exit {code})")
        assert code != 0 and "wrong stream key" in log, log
        _nothing_recorded(stack, encoder, "after a wrong-key push")

        right = threading.Thread(target=_push, args=(stack, f"{url}/{key}", "flv", push_seconds, "right"))
        right.start()
        wait_until(lambda: encoder.segments() >= 3, 60, 0.2, f"no segment\n{encoder.output()[-3000:]}")
        wrong_at = time.time()
        code, ran, log = _push_once(stack, f"{url}/{WRONG_KEY}", "flv", 6, "wrong-during")
        wrong_done = time.time()
        assert code != 0 and "wrong stream key" in log, log
        right.join(push_seconds + 90)
        assert not right.is_alive()
        wait_until(lambda: encoder.status().get("refused_pushes"), 10, 0.2, "no refused_pushes in the status")
        status = encoder.status()
    finally:
        encoder.proc.send_signal(signal.SIGTERM)
    assert encoder.wait(90) == 0, encoder.output()[-3000:]
    entries = _assert_recorded(stack, push_seconds)
    output = encoder.output()

    # Each refusal logged once, with the sender's address and without the key; counted in the status file.
    assert output.count("refused a push from 127.0.0.1:") == 2, output[-3000:]
    ffmpeg_log = (stack.spool / "events" / EVENT / "ffmpeg.log").read_text()
    assert WRONG_KEY not in output and WRONG_KEY not in ffmpeg_log and key not in ffmpeg_log
    assert status["refused_pushes"]["count"] == 2 and status["refused_pushes"]["senders"] == {"127.0.0.1": 2}

    # The real stream while a wrong key knocked: no restart, no discontinuity, segments at their usual pace.
    assert status["ffmpeg_restarts"] == 0 and not any(disc for _, _, disc in entries)
    done = [s.completed_at for s in EventStore(stack.journal()).load(EVENT, "180p")]
    around = [
        b - a for a, b in zip(done, done[1:], strict=False) if wrong_at - SEGMENT <= b <= wrong_done + 2 * SEGMENT
    ]
    usual = [b - a for a, b in zip(done, done[1:], strict=False)]
    extra = max(0.0, max(around) - statistics.median(usual))
    print(
        f"FIGURE wrong key during the stream: the attempt took {wrong_done - wrong_at:.1f} s; segments around it "
        f"every {min(around):.2f}-{max(around):.2f} s (median of the whole push {statistics.median(usual):.2f} s, "
        f"segment {SEGMENT:g} s); FFmpeg restarts {status['ffmpeg_restarts']}, discontinuities 0; "
        f"interruption {extra:.2f} s"
    )
    assert around and max(around) < SEGMENT + 1.5


@pytest.mark.timeout(300)
def test_obs_reconnecting_while_its_old_connection_still_looks_open_takes_over(stack: Stack) -> None:
    """A dropped OBS whose old connection never closed (frozen here with SIGSTOP): the new push with the right
    key replaces it at once, continuing the event after a discontinuity."""
    key = "venue-key-4412"
    stack.start_worker()
    port = free_port()
    encoder = start_encoder(stack, 600, {"SURECAST_ENCODER_SOURCE": f"rtmp://127.0.0.1:{port}/live/{key}"})
    url = f"rtmp://127.0.0.1:{port}/live/{key}"
    first: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: "ingest gate on" in encoder.output(), 60, 0.2, f"no gate\n{encoder.output()[-3000:]}")
        first = spawn(_pusher_command(url, "flv", 120), None, stack.tmp / "first.log")
        before = wait_until(lambda: encoder.segments() >= 3 and encoder.segments(), 60, 0.2, "no segment")
        first.send_signal(signal.SIGSTOP)  # its TCP connection stays open, silent
        began = time.monotonic()
        second = threading.Thread(target=_push, args=(stack, url, "flv", 12, "second"))
        second.start()
        wait_until(lambda: encoder.segments() > before + 1, 60, 0.2, f"no segment\n{encoder.output()[-3000:]}")
        print(f"FIGURE reconnect over a silent old connection: new segments {time.monotonic() - began:.1f} s later")
        second.join(90)
        assert not second.is_alive()
    finally:
        if first is not None:
            first.send_signal(signal.SIGCONT)
            terminate(first)
        encoder.proc.send_signal(signal.SIGTERM)
    assert encoder.wait(90) == 0, encoder.output()[-3000:]
    assert "a new push with the right key from 127.0.0.1:" in encoder.output()
    entries = _assert_recorded(stack, 12)
    assert sum(disc for _, _, disc in entries) >= 1


@pytest.mark.timeout(300)
def test_srt_without_the_passphrase_is_refused_and_leaves_nothing_with_it_is_recorded(stack: Stack) -> None:
    stack.start_worker()
    port = free_port()
    env = {"SURECAST_ENCODER_SOURCE": f"srt://0.0.0.0:{port}", "SURECAST_ENCODER_INGEST_KEY": SRT_PASSPHRASE}
    encoder = start_encoder(stack, 600, env)
    url = f"srt://127.0.0.1:{port}?mode=caller"
    try:
        wait_until(lambda: "FFmpeg" in encoder.output() and "started" in encoder.output(), 60, 0.2, "no FFmpeg")

        def refused_by_libsrt() -> bool:
            code, _, log = _push_once(stack, url, "mpegts", 6, "no-passphrase")
            assert code != 0, f"a caller without the passphrase got in:\n{log}"
            return "Password required" in log  # else the listener was not up yet: try again

        wait_until(refused_by_libsrt, 60, 0.5, "libsrt never answered the caller")
        _nothing_recorded(stack, encoder, "after an SRT push without the passphrase")
        _push(stack, f"{url}&passphrase={SRT_PASSPHRASE}", "mpegts", 12, "with-passphrase")
        wait_until(encoder.segments, 30, 0.5, f"no segment\n{encoder.output()[-3000:]}")
    finally:
        encoder.proc.send_signal(signal.SIGTERM)
    assert encoder.wait(90) == 0, encoder.output()[-3000:]
    _assert_recorded(stack, 12)
    assert SRT_PASSPHRASE not in encoder.output()
    assert SRT_PASSPHRASE not in (stack.spool / "events" / EVENT / "ffmpeg.log").read_text()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("scheme", "setting"), [("rtmp", "stream key"), ("srt", "passphrase")])
def test_a_listener_beyond_loopback_without_a_key_refuses_to_start_with_one_line(
    stack: Stack, scheme: str, setting: str
) -> None:
    """No key in the URL, none set, and no generated one to be had (a damaged credentials file)."""
    credentials_path(stack.spool).parent.mkdir(parents=True, exist_ok=True)
    credentials_path(stack.spool).write_text("{damaged")
    source = f"{scheme}://0.0.0.0:{free_port()}" + ("/live" if scheme == "rtmp" else "")
    encoder = start_encoder(stack, 600, {"SURECAST_ENCODER_SOURCE": source})
    assert encoder.wait(60) == 2, encoder.output()[-3000:]
    last = encoder.output().strip().splitlines()[-1]
    print(f"FIGURE refusal: {last}")
    assert last.startswith(f"surecast: bad source: {source} takes pushes from other machines")
    assert f"without a {setting}: set SURECAST_ENCODER_INGEST_KEY" in last
    assert not (stack.spool / "events" / EVENT / "ffmpeg.log").exists()  # FFmpeg never started


def test_the_generated_key_is_the_one_the_credentials_print(stack: Stack) -> None:
    """`surecast credentials` prints the key the encoder uses (and adds one to a file from before it)."""
    credentials_path(stack.spool).parent.mkdir(parents=True, exist_ok=True)
    credentials_path(stack.spool).write_text('{"user": "surecast", "password": "from-before"}')
    command = [str(BIN / "surecast"), "credentials"]
    out = subprocess.run(command, env=stack.env, cwd=stack.tmp, capture_output=True, text=True, timeout=60).stdout
    key, created = stack_ingest_key(stack.spool)
    assert not created and f"ingest key: {key} (OBS: Settings > Stream > Stream Key" in out
    assert "password: from-before" in out
