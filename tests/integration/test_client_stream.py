"""`surecast play` against real components: FFmpeg segments in the moto S3 server, served over HTTP or the
S3 API, behind the TCP fault proxy; the first test runs the real encoder and celery workers.

Each client is a `surecast play` subprocess; its JSON report (``--json``) is what the tests check.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.contract import MD5_METADATA
from encoder.ffmpegproc import find_ffmpeg
from tests.support.client_streams import Publisher, SegmentFile, make_segments, public_read
from tests.support.faultproxy import FaultProxy
from tests.support.procs import S3_ENV, free_port, log_tail, spawn, terminate, wait_until
from tests.support.seaweed import SeaweedServer
from tests.support.stack import BIN, Stack, direct_s3_client

# Short limits so faults resolve within a test's time.
CLIENT_ENV = {
    "SURECAST_CLIENT_CONNECT_TIMEOUT": "1",
    "SURECAST_CLIENT_READ_TIMEOUT": "1",
    "SURECAST_CLIENT_BACKOFF_BASE": "0.2",
    "SURECAST_CLIENT_BACKOFF_CAP": "1",
}
ENCODER_ENV = {
    "SURECAST_ENCODER_RENDITIONS": "320x180@250k",
    "SURECAST_ENCODER_FRAMERATE": "25",
    "SURECAST_ENCODER_PRESET": "ultrafast",
    "SURECAST_ENCODER_SEGMENT_SECONDS": "2",
    "SURECAST_ENCODER_FINAL_WAIT": "60",
}


@pytest.fixture(scope="module")
def segments_2s(tmp_path_factory: pytest.TempPathFactory) -> list[SegmentFile]:
    return make_segments(tmp_path_factory.mktemp("seg2"), 12, 2)


@pytest.fixture(scope="module")
def segments_1s(tmp_path_factory: pytest.TempPathFactory) -> list[SegmentFile]:
    return make_segments(tmp_path_factory.mktemp("seg1"), 60, 1)


@dataclass
class Bucket:
    s3: Any
    name: str
    server: SeaweedServer
    tmp: Path

    def url(self, key: str, port: int | None = None) -> str:
        """The object's public path-style URL, directly or through a proxy on ``port``."""
        return f"http://127.0.0.1:{port or self.server.port}/{self.name}/{key}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("SURECAST_")},
            **S3_ENV,
            **CLIENT_ENV,
            "SURECAST_S3_ENDPOINT_URL": self.server.endpoint_url,
            "SURECAST_S3_ACCESS_KEY_ID": "testing",
            "SURECAST_S3_SECRET_ACCESS_KEY": "testing",
            **extra,
        }


@pytest.fixture
def bucket(s3_server: SeaweedServer, tmp_path: Path) -> Bucket:
    s3 = direct_s3_client(s3_server.endpoint_url)
    name = f"c-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    public_read(s3, name)
    return Bucket(s3, name, s3_server, tmp_path)


@pytest.fixture
def http_proxy(s3_server: SeaweedServer) -> Iterator[FaultProxy]:
    """A second fault proxy, between the client and the bucket's HTTP endpoint."""
    with FaultProxy(s3_server.port) as proxy:
        yield proxy


@dataclass
class Play:
    proc: subprocess.Popen[bytes]
    log: Path
    report_path: Path

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            terminate(self.proc)
            raise AssertionError(f"surecast play still running after {timeout:.0f} s:\n{log_tail(self.log)}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def report(self) -> dict[str, Any]:
        assert self.report_path.exists(), f"no report:\n{log_tail(self.log)}"
        data: dict[str, Any] = json.loads(self.report_path.read_text())
        return data


def start_play(tmp: Path, name: str, env: dict[str, str], *args: str) -> Play:
    log, report = tmp / f"{name}.log", tmp / f"{name}.json"
    cmd = [str(BIN / "surecast"), "play", *args, "--json", str(report)]
    return Play(spawn(cmd, env, log, cwd=tmp), log, report)


def run_play(
    tmp: Path, name: str, env: dict[str, str], *args: str, timeout: float = 60
) -> tuple[int, dict[str, Any], str]:
    play = start_play(tmp, name, env, *args)
    code = play.wait(timeout)
    report = play.report() if play.report_path.exists() else {}
    return code, report, play.output()


def assert_every_segment_verified(report: dict[str, Any], count: int) -> None:
    assert report["segments_played"] == count, report
    assert report["segments_verified"] == count and report["unverified"] == [], report
    assert report["gaps"] == [] and report["decode_errors"] == 0, report
    assert report["ended"] is True and report["lost"] is False and report["exit_code"] == 0, report


# ---------------------------------------------------------------------------------------------- issue tests


def test_check_of_an_event_delivered_through_a_link_cut_plays_every_segment_verified(stack: Stack) -> None:
    """Issue test 1: a 30 s event from the real encoder, S3 cut for 10 s; the client reads through the S3 API."""
    stack.start_worker(concurrency=2)
    encoder_log = stack.tmp / "encoder.log"
    encoder = spawn(
        [str(BIN / "surecast"), "encode", "--duration", "30", "--event-id", "ev1"],
        {**stack.env, **ENCODER_ENV},
        encoder_log,
        cwd=stack.tmp,
    )
    master = "live/ev1/master.m3u8"
    wait_until(lambda: stack.stored_etag("live/ev1/180p/live.m3u8"), 30, message="no live playlist")
    wait_until(lambda: stack.stored_etag(master), 10, message="no master playlist")
    # The viewer is elsewhere: it reads the bucket directly, not through the venue's cut link.
    client_env = {**stack.env, **CLIENT_ENV, "SURECAST_S3_ENDPOINT_URL": stack.s3_server.endpoint_url}
    play = start_play(stack.tmp, "play", client_env, f"s3://{stack.bucket}/{master}", "--check", "--buffer", "6")
    time.sleep(4)
    stack.proxy.set_mode("refuse")
    time.sleep(10)
    stack.proxy.set_mode("pass")
    try:
        assert encoder.wait(120) == 0, log_tail(encoder_log)
    finally:
        terminate(encoder)
    assert play.wait(60) == 0, play.output()
    report = play.report()
    vod = stack.s3.get_object(Bucket=stack.bucket, Key="live/ev1/180p/vod.m3u8")["Body"].read().decode()
    listed = [line for line in vod.splitlines() if line.startswith("seg_")]
    assert len(listed) >= 13
    assert_every_segment_verified(report, len(listed))
    assert report["verified_metadata"] == len(listed) and report["rendition"] == "180p"
    assert abs(report["decoded_seconds"] - report["media_seconds"]) < 1.0, report
    print(
        f"\nlink cut: {report['segments_played']} segments, {report['media_seconds']:.1f} s media, "
        f"decoded {report['decoded_seconds']:.1f} s, stalls {len(report['stalls'])} "
        f"({report['stalled_seconds']} s, 6 s buffer), discontinuities {report['discontinuities']}"
    )


def corrupt(bucket: Bucket, key: str, original: SegmentFile) -> None:
    """Overwrite the object with one flipped byte, keeping the original's MD5 in its metadata."""
    body = bytearray(original.body)
    body[1000] ^= 0xFF
    bucket.s3.put_object(
        Bucket=bucket.name, Key=key, Body=bytes(body), ContentType="video/mp2t", Metadata={MD5_METADATA: original.md5}
    )


def test_a_segment_corrupted_in_the_bucket_is_detected_fetched_again_and_reported(
    bucket: Bucket, segments_2s: list[SegmentFile]
) -> None:
    """Issue test 2, first half: the object is repaired while the client re-fetches."""
    pub = Publisher(bucket.s3, bucket.name, segments_2s)
    pub.publish_all()
    key = pub.key("180p/seg_3.ts")
    corrupt(bucket, key, segments_2s[3])
    env = bucket.env(SURECAST_CLIENT_BACKOFF_BASE="2", SURECAST_CLIENT_BACKOFF_CAP="4")
    play = start_play(bucket.tmp, "play", env, bucket.url(pub.key("master.m3u8")), "--check")
    wait_until(lambda: "seg_3.ts: MD5" in play.output(), 20, interval=0.05, message="corruption not detected")
    pub.put(key, segments_2s[3].body, "video/mp2t")
    assert play.wait(30) == 0, play.output()
    report = play.report()
    assert_every_segment_verified(report, len(segments_2s))
    refetches = report["integrity_refetches"]
    assert refetches and all(r["segment"] == "seg_3.ts" for r in refetches), refetches
    assert segments_2s[3].md5 in refetches[0]["reason"]
    print(f"\ncorruption repaired: {len(refetches)} re-fetch(es) of seg_3.ts, then verified")


def test_a_segment_corrupted_for_good_fails_loudly_by_name(bucket: Bucket, segments_2s: list[SegmentFile]) -> None:
    """Issue test 2, second half: through the S3 API this time (the MD5 comes from Metadata)."""
    pub = Publisher(bucket.s3, bucket.name, segments_2s)
    pub.publish_all()
    corrupt(bucket, pub.key("180p/seg_3.ts"), segments_2s[3])
    url = f"s3://{bucket.name}/{pub.key('master.m3u8')}"
    code, report, output = run_play(bucket.tmp, "play", bucket.env(), url, "--check")
    assert code == 1, output
    assert "surecast play: seg_3.ts failed its integrity check 3 times" in output
    assert report["error_kind"] == "integrity" and "seg_3.ts" in report["error"]
    assert [r["segment"] for r in report["integrity_refetches"]] == ["seg_3.ts"] * 3
    assert report["segments_played"] == 3 and report["lost"] is True  # seg_0..2 played, then the failure


def test_an_origin_silent_for_15s_never_stalls_a_30s_buffer(
    bucket: Bucket, segments_1s: list[SegmentFile], http_proxy: FaultProxy
) -> None:
    """Issue test 3. A second client with a 4 s buffer, on the same link, shows that the outage was real."""
    pub = Publisher(bucket.s3, bucket.name, segments_1s)
    url = bucket.url(pub.key("master.m3u8"), http_proxy.port)
    with pub.live(preroll=32, end_after=24):
        buffered = start_play(bucket.tmp, "buffered", bucket.env(), url, "--check", "--buffer", "30")
        short = start_play(bucket.tmp, "short", bucket.env(), url, "--check", "--buffer", "4", "--start", "edge")
        time.sleep(3)
        http_proxy.set_mode("stall")
        time.sleep(15)
        http_proxy.set_mode("pass")
        pub.wait_ended(30)
        assert buffered.wait(60) == 0, buffered.output()
        assert short.wait(60) == 0, short.output()
    report, control = buffered.report(), short.report()
    assert_every_segment_verified(report, len(segments_1s))
    assert report["stalls"] == [], report["stalls"]
    assert report["longest_outage"] >= 12 and report["fetch_retries"] > 0, report
    assert control["stalls"] and control["gaps"] == [], control
    print(
        f"\norigin silent 15 s: 30 s buffer: {len(report['stalls'])} stalls, longest outage "
        f"{report['longest_outage']:.1f} s, {report['fetch_retries']} retries; 4 s buffer: {len(control['stalls'])} "
        f"stall(s), {control['stalled_seconds']:.1f} s"
    )


# ---------------------------------------------------------------------------------------------- clear errors


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "not found (HTTP 404): check the URL"),
        ("forbidden", "access denied (HTTP 403)"),
        ("not_hls", "not an HLS playlist (it does not start with #EXTM3U but with '<html>"),
        ("silent", "the origin stopped answering"),
    ],
)
def test_a_stream_that_cannot_be_read_is_one_clear_line_within_seconds(
    bucket: Bucket, segments_2s: list[SegmentFile], http_proxy: FaultProxy, case: str, message: str
) -> None:
    pub = Publisher(bucket.s3, bucket.name, segments_2s)
    pub.publish_all()
    bucket.s3.put_object(Bucket=bucket.name, Key="index.m3u8", Body=b"<html><body>Welcome</body></html>")
    key = {"missing": "live/ev/nothere.m3u8", "not_hls": "index.m3u8"}.get(case, pub.key("master.m3u8"))
    if case == "forbidden":
        http_proxy.set_mode("http_error", status=403, code="AccessDenied", message="Access Denied")
    elif case == "silent":
        http_proxy.set_mode("stall")
    started = time.monotonic()
    env = bucket.env(SURECAST_CLIENT_START_TIMEOUT="2")
    code, report, output = run_play(bucket.tmp, case, env, bucket.url(key, http_proxy.port), "--check", timeout=30)
    assert code == 3, output
    assert report["exit_code"] == 3 and message in report["error"], report
    errors = [line for line in output.splitlines() if line.startswith("surecast play: ")]
    assert len(errors) == 1 and message in errors[0], output
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("fault", "message"),
    [("stall", " s (SURECAST_CLIENT_ORIGIN_TIMEOUT=3)"), ("stale", "has not changed for")],
)
def test_a_live_stream_that_stops_mid_way_ends_with_a_clear_error(
    bucket: Bucket, segments_2s: list[SegmentFile], http_proxy: FaultProxy, fault: str, message: str
) -> None:
    pub = Publisher(bucket.s3, bucket.name, segments_2s)
    pub.publish_master()
    pub.publish(3)  # live, and it never grows: an encoder that died without ending the event
    env = bucket.env(SURECAST_CLIENT_ORIGIN_TIMEOUT="3", SURECAST_CLIENT_STALE_TIMEOUT="3")
    play = start_play(bucket.tmp, fault, env, bucket.url(pub.key("master.m3u8"), http_proxy.port), "--check")
    if fault == "stall":
        wait_until(lambda: http_proxy.connections > 0, 10, message="the client never connected")
        time.sleep(0.5)
        http_proxy.set_mode("stall")
    assert play.wait(30) == 3, play.output()
    assert message in play.output()
    report = play.report()
    assert report["segments_played"] == 3 and report["exit_code"] == 3


# ---------------------------------------------------------------------------------------------- outputs


def test_recording_and_lan_reserve_hand_on_verified_segments(bucket: Bucket, segments_2s: list[SegmentFile]) -> None:
    """One download, a recording and a local HLS server; a second client verifies the re-served stream."""
    pub = Publisher(bucket.s3, bucket.name, segments_2s)
    pub.publish_all()
    recording, port = bucket.tmp / "event.ts", free_port()
    first = start_play(
        bucket.tmp, "first", bucket.env(), bucket.url(pub.key("master.m3u8")),
        "--output", "record", "--file", str(recording), "--output", "serve", "--port", str(port),
    )  # fmt: skip
    try:
        wait_until(lambda: "still serving" in first.output(), 30, message="the re-serve did not start")
        local = f"http://127.0.0.1:{port}/stream/live.m3u8"
        code, second, output = run_play(bucket.tmp, "second", bucket.env(), local, "--check")
        assert code == 0, output
        assert_every_segment_verified(second, len(segments_2s))
        assert second["verified_metadata"] == len(segments_2s)  # the re-serve publishes x-amz-meta-md5
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config.json", timeout=5) as resp:
            assert json.load(resp)["src"] == "stream/live.m3u8"
    finally:
        first.proc.send_signal(signal.SIGTERM)
        assert first.wait(15) == 0, first.output()
    assert (
        hashlib.md5(recording.read_bytes()).hexdigest()
        == hashlib.md5(b"".join(s.body for s in segments_2s)).hexdigest()
    )
    decoded = subprocess.run(
        [find_ffmpeg(""), "-hide_banner", "-nostdin", "-v", "error", "-i", str(recording), "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert decoded.returncode == 0 and decoded.stderr.strip() == "", decoded.stderr[-2000:]


def test_the_play_output_pipes_every_segment_to_the_player_in_order(
    bucket: Bucket, segments_2s: list[SegmentFile]
) -> None:
    """ffplay's side of the pipe, played by a stand-in that stores what it reads (no display here)."""
    pub = Publisher(bucket.s3, bucket.name, segments_2s)
    pub.publish_all()
    received = bucket.tmp / "received.ts"
    fake = bucket.tmp / "ffplay"
    fake.write_text(f"#!/bin/sh\n# stand-in for ffplay: read the stream from stdin\nexec cat > {received}\n")
    fake.chmod(0o755)
    env = bucket.env(SURECAST_CLIENT_FFPLAY_PATH=str(fake))
    code, report, output = run_play(bucket.tmp, "play", env, bucket.url(pub.key("master.m3u8")), "--output", "play")
    assert code == 0, output
    assert_every_segment_verified(report, len(segments_2s))
    assert received.read_bytes() == b"".join(s.body for s in segments_2s)
