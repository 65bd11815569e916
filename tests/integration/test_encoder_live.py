"""The encoder end to end: real FFmpeg, Redis, an S3 server behind a fault proxy, real celery workers.

Each test runs `surecast encode` as a subprocess with a small test-pattern ladder, injects one fault
mid-event (S3 link cut, FFmpeg killed, Redis down) and checks the bucket, the journal and the playlists.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from encoder.ffmpegproc import find_ffmpeg
from encoder.keys import is_slate
from tests.support.procs import log_tail, spawn, terminate, wait_until
from tests.support.stack import BIN, Stack

ENCODER_ENV = {
    "SURECAST_ENCODER_RENDITIONS": "320x180@250k",
    "SURECAST_ENCODER_FRAMERATE": "25",
    "SURECAST_ENCODER_PRESET": "ultrafast",
    "SURECAST_ENCODER_SEGMENT_SECONDS": "2",
    "SURECAST_ENCODER_FINAL_WAIT": "60",
}
EVENT = "ev1"
PREFIX = f"live/{EVENT}"


# ---------------------------------------------------------------------------------------------- helpers


@dataclass
class Encoder:
    proc: subprocess.Popen[bytes]
    log: Path
    stack: Stack

    def status(self) -> dict[str, Any]:
        path = self.stack.spool / "events" / EVENT / "encoder-status.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data

    def segments(self) -> int:
        return sum(r["segments"] for r in self.status().get("renditions", {}).values())

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            terminate(self.proc)
            raise AssertionError(f"encoder still running after {timeout:.0f} s:\n{log_tail(self.log)}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_encoder(stack: Stack, duration: float, extra_env: dict[str, str] | None = None, *args: str) -> Encoder:
    log = stack.tmp / "encoder.log"
    env = {**stack.env, **ENCODER_ENV, **(extra_env or {})}
    cmd = [str(BIN / "surecast"), "encode", "--duration", str(duration), "--event-id", EVENT, *args]
    return Encoder(spawn(cmd, env, log, cwd=stack.tmp), log, stack)


def get_text(stack: Stack, key: str) -> str | None:
    try:
        body = stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
    except stack.s3.exceptions.NoSuchKey:
        return None
    return str(body.decode())


def playlist_entries(text: str) -> list[tuple[str, bool, bool]]:
    """(uri, gap, discontinuity) for each segment a media playlist lists."""
    entries = []
    gap = disc = False
    for line in text.splitlines():
        if line == "#EXT-X-GAP":
            gap = True
        elif line == "#EXT-X-DISCONTINUITY":
            disc = True
        elif line and not line.startswith("#"):
            entries.append((line, gap, disc))
            gap = disc = False
    return entries


@dataclass
class LivePoller:
    """Fetches the remote live playlist every 200 ms and checks that every segment it lists exists."""

    stack: Stack
    key: str
    checks: int = 0
    misses: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    gaps_seen: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        folder = self.key.rsplit("/", 1)[0]
        while not self._stop.wait(0.2):
            text = get_text(self.stack, self.key)
            if text is None:
                continue
            if not self.versions or self.versions[-1] != text:
                self.versions.append(text)
            for uri, gap, _ in playlist_entries(text):
                if gap:
                    self.gaps_seen.add(uri)
                    continue
                self.checks += 1
                if self.stack.stored_etag(f"{folder}/{uri}") is None:
                    self.misses.append(uri)

    @contextmanager
    def running(self) -> Iterator[LivePoller]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(5)


def journal_segments(stack: Stack) -> dict[str, str]:
    """key -> md5 of every segment the encoder journaled."""
    journal = stack.journal()
    try:
        rows = journal._db.execute("SELECT key, md5 FROM files WHERE kind = 'segment'").fetchall()
    finally:
        journal.close()
    return {r["key"]: r["md5"] for r in rows}


def assert_archive_complete(stack: Stack, rendition: str = "180p") -> list[tuple[str, bool, bool]]:
    """Every journaled segment is in the bucket intact and the VOD playlist lists each one."""
    segments = {k: v for k, v in journal_segments(stack).items() if f"/{rendition}/" in k}
    assert segments, "the encoder journaled no segment"
    for key, md5 in segments.items():
        assert stack.stored_etag(key) == md5, f"{key} missing or different in the bucket"
    vod = get_text(stack, f"{PREFIX}/{rendition}/vod.m3u8")
    assert vod is not None, "no VOD playlist"
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in vod and vod.rstrip().endswith("#EXT-X-ENDLIST")
    entries = playlist_entries(vod)
    recorded = [k for k in segments if not is_slate(k)]  # slates kept the live edge moving; the VOD leaves them out
    assert sorted(f"{PREFIX}/{rendition}/{uri}" for uri, _, _ in entries) == sorted(recorded)
    assert not any(gap for _, gap, _ in entries)
    numbers = [int(re.findall(r"\d+", uri)[0]) for uri, _, _ in entries]
    assert numbers == sorted(set(numbers)), "segment numbers must only grow"
    return entries


def decoded_seconds(stack: Stack, key: str) -> float:
    """Decode a playlist straight from the S3 server with FFmpeg, as a viewer would; return the duration read."""
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{stack.bucket}/*",
            }
        ],
    }
    stack.s3.put_bucket_policy(Bucket=stack.bucket, Policy=json.dumps(public_read))
    url = f"{stack.s3_server.endpoint_url}/{stack.bucket}/{key}"
    result = subprocess.run(
        [find_ffmpeg(""), "-hide_banner", "-nostdin", "-i", url, "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    times = re.findall(r"time=(\d+):(\d+):(\d+\.\d+)", result.stderr)
    assert times, result.stderr[-2000:]
    h, m, s = times[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def encoded_seconds(vod: str) -> float:
    return sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+),", vod))


def headers(stack: Stack, key: str) -> tuple[str, str]:
    head = stack.s3.head_object(Bucket=stack.bucket, Key=key)
    return head.get("ContentType", ""), head.get("CacheControl", "")


# ---------------------------------------------------------------------------------------------- tests


def test_link_cut_for_10s_every_segment_lands_and_the_live_playlist_never_lists_a_missing_one(stack: Stack) -> None:
    """Issue tests 1 and 2: a 30 s event, S3 cut for 10 s in the middle."""
    stack.start_worker(concurrency=2)
    encoder = start_encoder(stack, 30)
    poller = LivePoller(stack, f"{PREFIX}/180p/live.m3u8")
    with poller.running():
        wait_until(lambda: encoder.segments() >= 4, 30, message="no segments from the encoder")
        stack.proxy.set_mode("refuse")
        time.sleep(10)
        stack.proxy.set_mode("pass")
        assert encoder.wait(90) == 0, encoder.output()[-3000:]
    entries = assert_archive_complete(stack)
    assert len(entries) >= 13
    assert poller.checks > 50 and poller.misses == [], f"live playlist listed missing segments: {poller.misses}"
    vod = get_text(stack, f"{PREFIX}/180p/vod.m3u8")
    assert vod is not None
    assert abs(decoded_seconds(stack, f"{PREFIX}/180p/vod.m3u8") - encoded_seconds(vod)) <= 2.0
    assert headers(stack, f"{PREFIX}/180p/live.m3u8") == ("application/vnd.apple.mpegurl", "no-cache")
    assert headers(stack, f"{PREFIX}/180p/{entries[0][0]}") == ("video/mp2t", "max-age=31536000, immutable")
    assert get_text(stack, f"{PREFIX}/master.m3u8") is not None
    assert "180p/vod.m3u8" in (get_text(stack, f"{PREFIX}/master_vod.m3u8") or "")


def test_killed_ffmpeg_restarts_with_a_discontinuity_and_overwrites_no_key(stack: Stack) -> None:
    """Issue test 3."""
    stack.s3.put_bucket_versioning(Bucket=stack.bucket, VersioningConfiguration={"Status": "Enabled"})
    stack.start_worker(concurrency=2)
    encoder = start_encoder(stack, 18)
    wait_until(lambda: encoder.segments() >= 3, 30, message="no segments from the encoder")
    pid = encoder.status()["ffmpeg_pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: encoder.status().get("ffmpeg_pid") not in (None, pid), 20, message="FFmpeg was not restarted")
    assert encoder.wait(90) == 0, encoder.output()[-3000:]
    entries = assert_archive_complete(stack)
    assert sum(1 for _, _, disc in entries if disc) == 1
    assert encoder.status()["ffmpeg_restarts"] == 1
    versions = stack.s3.list_object_versions(Bucket=stack.bucket, Prefix=f"{PREFIX}/180p/seg_")["Versions"]
    per_key: dict[str, int] = {}
    for v in versions:
        per_key[v["Key"]] = per_key.get(v["Key"], 0) + 1
    assert per_key and all(n == 1 for n in per_key.values()), f"overwritten: {per_key}"


def test_redis_down_for_10s_encoding_goes_on_and_every_file_is_published_after(stack: Stack) -> None:
    """Issue test 4."""
    stack.start_worker(concurrency=2)
    encoder = start_encoder(stack, 24)
    wait_until(lambda: encoder.segments() >= 3, 30, message="no segments from the encoder")
    before = encoder.segments()
    stack.redis.stop()
    down_at = time.time()
    waiting: list[int] = []
    while time.time() < down_at + 10:
        waiting.append(encoder.status().get("waiting_for_redis", 0))
        time.sleep(0.1)
    during = encoder.segments()
    stack.redis.restart()
    assert during >= before + 4, f"encoding paused while Redis was down: {before} -> {during} segments"
    assert encoder.wait(90) == 0, encoder.output()[-3000:]
    assert_archive_complete(stack)
    output = encoder.output()
    assert output.count("Redis unreachable") == 1, output[-3000:]  # once for the outage, not once per retry
    assert output.count("Redis reachable again") == 1, output[-3000:]
    assert max(waiting) > 0, "the status never said files wait for Redis"
    journal = stack.journal()
    try:
        rows = journal._db.execute(
            "SELECT key, created_at, published_at FROM files WHERE created_at BETWEEN ? AND ?", (down_at, down_at + 9)
        ).fetchall()
    finally:
        journal.close()
    assert rows, "nothing was journaled while Redis was down"
    assert all(r["published_at"] and r["published_at"] >= down_at + 9 for r in rows)


def test_a_healthy_event_never_says_redis_is_unreachable(stack: Stack) -> None:
    """Issue 19: files journaled while a publishing round runs are not a sign that Redis is away."""
    stack.start_worker(concurrency=2)
    encoder = start_encoder(stack, 20)
    waiting: list[int] = []
    while encoder.proc.poll() is None:
        waiting.append(encoder.status().get("waiting_for_redis", 0))
        time.sleep(0.05)
    assert encoder.wait(90) == 0, encoder.output()[-3000:]
    assert_archive_complete(stack)
    output = encoder.output()
    assert "Redis unreachable" not in output and "reachable again" not in output, output[-3000:]
    assert len(waiting) > 100 and max(waiting) == 0, f"the status said files wait for Redis: {max(waiting)}"


def test_live_edge_policy_shows_a_gap_and_the_archive_is_complete_after_recovery(stack: Stack) -> None:
    """Issue test 5."""
    stack.start_worker(concurrency=2)
    encoder = start_encoder(stack, 26, {"SURECAST_ENCODER_POLICY": "live-edge"})
    poller = LivePoller(stack, f"{PREFIX}/180p/live.m3u8")
    with poller.running():
        wait_until(lambda: encoder.segments() >= 3, 30, message="no segments from the encoder")
        wait_until(lambda: poller.versions, 20, message="no live playlist")
        stack.proxy.set_mode("refuse")
        time.sleep(10)
        # A slow link after the cut: the backlog takes seconds to go up, the small playlist goes first.
        stack.proxy.set_mode("throttle", bytes_per_sec=40_000)
        time.sleep(5)
        stack.proxy.set_mode("pass")
        assert encoder.wait(90) == 0, encoder.output()[-3000:]
    assert poller.misses == []
    # The playlist could not be uploaded during the cut; the first one after it shows the gap.
    assert poller.gaps_seen, "the live playlist never showed a gap"
    assert_archive_complete(stack)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("file:/nonexistent/talk.mp4", "does not exist"),
        ("v4l2:/dev/video99", "does not exist"),
        ("lavfi:nosuchfilter", "could not read the source"),
        ("srt-pull://127.0.0.1:9", "could not read the source"),
    ],
)
def test_a_bad_source_is_a_clear_error_within_seconds(stack: Stack, source: str, message: str) -> None:
    started = time.monotonic()
    result = stack.run_cli("encode", "--source", source, "--duration", "30", timeout=30)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert time.monotonic() - started < 15
