"""Encoder benchmark: glass-to-origin latency and the encoder's own CPU. Prints figures; asserts nothing.

Run:  .venv/bin/python -m tests.bench.bench_encoder [--seconds 60] [--workers 3]

For a 1-rendition and a 3-rendition test-pattern event (real FFmpeg, Redis as the compose stack runs it,
celery workers with the production settings, SeaweedFS on loopback):
- glass-to-origin: from a segment file being complete (its mtime, when FFmpeg closed it) to the first
  time the remote live playlist, fetched from the S3 server every 50 ms, lists it; p50 and p95;
- raw PUT: the same segment files PUT once each with plain boto3 to the same server, in the same run;
- the encoder process's CPU (user + system, FFmpeg excluded) as % of one core, and FFmpeg's for scale.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from journal.files import Journal
from tests.soak.observe import playlist_uris
from tests.support.procs import S3_ENV, RedisServer, free_port, log_tail, spawn, terminate, wait_until
from tests.support.seaweed import SeaweedServer
from tests.support.stack import BIN

POLL_EVERY = 0.01  # the watcher: fine enough not to blur what it measures
LADDERS = {1: "720p", 3: "720p,480p,360p"}


@dataclass
class PlaylistWatch:
    """Polls live playlists over plain HTTP (keep-alive) and notes when each segment is first listed."""

    port: int
    paths: list[str]
    first_listed: dict[str, float] = field(default_factory=dict)
    fetches: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self._stop.wait(POLL_EVERY):
            for path in self.paths:
                try:
                    conn.request("GET", path)
                    response = conn.getresponse()
                    body = response.read().decode()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    continue
                seen = time.time()
                self.fetches += 1
                if response.status != 200:
                    continue
                folder = path.rsplit("/", 1)[0]
                for uri in (u for u, gap in playlist_uris(body) if not gap):
                    self.first_listed.setdefault(f"{folder}/{uri}", seen)
        conn.close()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread

    def stop(self, thread: threading.Thread) -> None:
        self._stop.set()
        thread.join(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run_event(
    env: dict[str, str], tmp: Path, s3_port: int, bucket: str, renditions: int, seconds: float
) -> dict[str, Any]:
    event = f"bench{renditions}"
    ladder = LADDERS[renditions].split(",")
    spool = Path(env["SURECAST_SPOOL_DIR"])
    paths = [f"/{bucket}/live/{event}/{name}/live.m3u8" for name in ladder]
    watch = PlaylistWatch(s3_port, paths)
    thread = watch.start()
    log = tmp / f"encoder-{event}.log"
    encoder_env = {
        **env,
        "SURECAST_ENCODER_RENDITIONS": LADDERS[renditions],
        "SURECAST_ENCODER_PRESET": "ultrafast",
        "SURECAST_ENCODER_FRAMERATE": "25",
        "SURECAST_ENCODER_SEGMENT_SECONDS": "2",
    }
    cmd = [str(BIN / "surecast"), "encode", "--duration", str(seconds), "--event-id", event, "-l", "WARNING"]
    proc = spawn(cmd, encoder_env, log, cwd=tmp)
    me = psutil.Process(proc.pid)
    started = time.monotonic()
    samples: list[tuple[float, float, float]] = []  # (seconds since start, encoder CPU, FFmpeg CPU)
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - started
            try:
                times = me.cpu_times()
                children = sum(c.cpu_times().user + c.cpu_times().system for c in me.children(recursive=True))
                if elapsed <= seconds:
                    samples.append((elapsed, times.user + times.system, children))
            except psutil.Error:
                pass
            if elapsed > seconds + 120:
                raise RuntimeError(f"encoder still running:\n{log_tail(log)}")
            time.sleep(0.5)
    finally:
        terminate(proc)
        watch.stop(thread)
    if proc.returncode != 0:
        raise RuntimeError(f"encoder exited with {proc.returncode}:\n{log_tail(log)}")
    # Steady state: from 10 s in (imports and FFmpeg start done) to the end of the live phase.
    first = next(s for s in samples if s[0] >= 10.0)
    last = samples[-1]
    span = last[0] - first[0]
    latencies: list[float] = []
    to_verified: list[float] = []
    stages: list[tuple[float, ...]] = []  # (noticed+journaled, to a worker, uploaded+verified, to listed)
    files: list[Path] = []
    journal = Journal(spool)
    for name in ladder:
        folder = spool / "events" / event / name
        for segment in sorted(folder.glob("seg_*.ts")):
            key = f"live/{event}/{name}/{segment.name}"
            files.append(segment)
            done = segment.stat().st_mtime
            if f"/{bucket}/{key}" in watch.first_listed:
                latencies.append(watch.first_listed[f"/{bucket}/{key}"] - done)
            row = journal.get(key)
            if row is not None and row.verified_at is not None and row.started_at is not None:
                to_verified.append(row.verified_at - done)
                started, verified = row.started_at, row.verified_at
                stages.append((row.created_at - done, started - row.created_at, verified - started))
                if f"/{bucket}/{key}" in watch.first_listed:
                    stages[-1] += (watch.first_listed[f"/{bucket}/{key}"] - row.verified_at,)
    journal.close()
    return {
        "latencies": latencies,
        "to_verified": to_verified,
        "stages": stages,
        "files": files,
        "segments": len(files),
        "cpu_live": (last[1] - first[1]) / span * 100,
        "cpu_total": last[1] / last[0] * 100,
        "ffmpeg_cpu": (last[2] - first[2]) / span * 100,
        "fetches": watch.fetches,
    }


def raw_puts(s3: Any, bucket: str, files: list[Path]) -> list[float]:
    """Seconds for one plain put_object of each file, one after another."""
    times = []
    for i, path in enumerate(files):
        body = path.read_bytes()
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=f"raw/{i}-{path.name}", Body=body, ContentType="video/mp2t")
        times.append(time.perf_counter() - started)
    return times


def warm_up(env: dict[str, str], tmp: Path, spool: Path, count: int) -> None:
    """Send a few small files through every pool child first, so start-up costs stay out of the figures."""
    folder = tmp / "warm"
    folder.mkdir()
    files = []
    for i in range(count):
        path = folder / f"warm{i}.bin"
        path.write_bytes(os.urandom(64 * 1024))
        files.append(str(path))
    subprocess.run(
        [str(BIN / "surecast"), "send", *files], env=env, cwd=tmp, check=True, capture_output=True, timeout=60
    )
    journal = Journal(spool)
    started = time.monotonic()
    try:
        wait_until(lambda: journal.totals().files["verified"] >= count, 90, interval=0.1, message="warm-up stuck")
    finally:
        journal.close()
    print(f"warm-up: {count} small files through the workers in {time.monotonic() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=3, help="worker concurrency")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-encoder-") as tmp_name:
        tmp = Path(tmp_name)
        s3_server = SeaweedServer(tmp / "seaweedfs", anonymous_read=True)  # the watcher reads unsigned
        s3_server.start()
        redis = RedisServer()
        redis.start(free_port(), tmp / "redis", aof=True, appendfsync="everysec")
        worker = None
        try:
            s3 = s3_server.client()
            bucket = "bench-encoder"
            s3.create_bucket(Bucket=bucket)
            spool = tmp / "spool"
            spool.mkdir()
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("SURECAST_")},
                **S3_ENV,
                "SURECAST_REDIS_URL": redis.url,
                "SURECAST_S3_BUCKET": bucket,
                "SURECAST_S3_ENDPOINT_URL": s3_server.endpoint_url,
                "SURECAST_S3_PREFIX": "live",
                "SURECAST_SPOOL_DIR": str(spool),
            }
            wlog = tmp / "worker.log"
            worker = spawn(
                [str(BIN / "surecast"), "worker", "-c", str(args.workers), "-n", "bench@h"], env, wlog, cwd=tmp
            )
            wait_until(lambda: "ready." in wlog.read_text(errors="replace"), 60, message="worker did not start")
            warm_up(env, tmp, spool, 4 * args.workers)
            print(f"encoder benchmark: {args.seconds:.0f} s test-pattern events, 2 s segments, 25 fps, x264 ultrafast,")
            print(f"  {args.workers} worker processes, SeaweedFS and Redis on loopback, {psutil.cpu_count()} CPU(s)")
            print(f"{'ladder':<22}{'segments':>9}{'g2o p50':>9}{'g2o p95':>9}{'PUT p50':>9}{'PUT p95':>9}"
                  f"{'p95-PUTp95':>11}{'encoder CPU':>12}{'FFmpeg CPU':>11}")  # fmt: skip
            for renditions in (1, 3):
                result = run_event(env, tmp, s3_server.port, bucket, renditions, args.seconds)
                puts = raw_puts(s3, bucket, result["files"])
                lat = result["latencies"]
                g50, g95 = percentile(lat, 0.5) * 1000, percentile(lat, 0.95) * 1000
                p50, p95 = percentile(puts, 0.5) * 1000, percentile(puts, 0.95) * 1000
                print(
                    f"{LADDERS[renditions]:<22}{result['segments']:>9}{g50:>7.0f}ms{g95:>7.0f}ms{p50:>7.0f}ms{p95:>7.0f}ms"
                    f"{g95 - p95:>9.0f}ms{result['cpu_live']:>11.1f}%{result['ffmpeg_cpu']:>10.0f}%"
                )
                if len(lat) < result["segments"]:
                    print(f"  ({result['segments'] - len(lat)} segment(s) never seen listed live: the last ones)")
                ver = result["to_verified"]
                print(
                    f"  of which file complete -> segment verified in the bucket: "
                    f"p50 {percentile(ver, 0.5) * 1000:.0f} ms, p95 {percentile(ver, 0.95) * 1000:.0f} ms"
                )
                names = ("recorded", "to a worker", "PUT+verified", "then listed")
                parts = [
                    f"{n} {percentile([s[i] for s in result['stages'] if len(s) > i], 0.5) * 1000:.0f}"
                    for i, n in enumerate(names)
                ]
                print("  stages, p50 ms: file complete -> " + ", ".join(parts))
                print(
                    f"  latency max {max(lat) * 1000:.0f} ms, mean {statistics.mean(lat) * 1000:.0f} ms; encoder CPU "
                    f"incl. start-up {result['cpu_total']:.1f}%; playlist fetches {result['fetches']}"
                )
        finally:
            if worker is not None:
                terminate(worker)
            redis.stop()
            s3_server.stop()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
