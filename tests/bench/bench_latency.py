"""Latency benchmark: glass to glass in the web player, per profile, on loopback and on the emulated uplink.
Prints figures; asserts nothing.

Run:  .venv/bin/python -m tests.bench.bench_latency [--seconds 60] [--profiles standard,low-latency]
      sudo .venv/bin/python -m tests.bench.bench_latency --links loopback,uplink     (the uplink needs root)

For each link and profile, a real stack: SeaweedFS, Redis (AOF, `appendfsync everysec` as compose runs it), one
`surecast worker -c 4` with the production settings, `surecast encode` on the test pattern (720p, 30 fps, x264
`--preset`: ultrafast by default as in the other benchmarks, since on a shared 2-core machine veryfast fell
behind real time and a late encoder is not what this measures) with SURECAST_ENCODER_PROFILE set, `surecast
player` on the event's master playlist, and the page in headless Chromium (tests/support/chromium.py). The page
reads SeaweedFS directly: viewers read the bucket, not the venue's uplink. The uplink is bench_uplink's: a
namespace behind a veth with tbf at 8 Mbit/s toward it, 1 % of its incoming packets dropped, and the delay
relay (+50 ms each way) in front of the S3 gateway.

Once the picture has played ``--settle`` seconds, the page's own figure (``window.surecastPlayer.state()
.latency``: now minus the EXT-X-PROGRAM-DATE-TIME of the frame on screen; one clock here) is read every second
for ``--seconds``: p50, p95, max. Where the time goes:
- closed: each segment's file complete, after the capture of its last frame (its date plus its duration);
- listed: its first appearance in the remote live playlist (read every 50 ms), after its file was complete:
  journal, upload, integrity test, then the playlist's own upload;
- fetched: per page sample, how old the newest media the player knows of was when its playlist was fetched
  (the latency less hls.js's distance behind the edge it estimates): closed + listed + the wait for the
  player's next playlist reload;
- behind: hls.js's distance behind that estimated edge (its target: the profile's target durations).
The encoder's own delay before a run's first segment closes is inside every date (encoder/program_time.py), so
it is not in the figures: it is printed apart, as FFmpeg's start to the first segment's date.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from journal.events import EventStore
from journal.files import Journal
from stack.bucket_setup import cors_rule
from tests.bench.bench_uplink import (
    DELAY,
    HOST_IP,
    LOSS_PERCENT,
    RATE_MBIT,
    Watch,
    link_down,
    link_up,
    percentile,
    start_relay,
)
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, DevTools
from tests.support.client_streams import public_read
from tests.support.procs import RedisServer, free_port, log_tail, spawn, terminate, wait_until
from tests.support.seaweed import SeaweedServer
from tests.support.stack import BIN

RENDITION, FRAMERATE = "720p", 30
TARGETS = {"low-latency": 4.0, "standard": 8.0}  # p95, seconds (issue 20 item 6)


@dataclass
class Run:
    """One profile on one link: the page's samples and the segments' timings."""

    profile: str
    link: str
    samples: list[dict[str, Any]]
    closed: list[float]
    listed: list[float]
    first_date_after_start: float | None
    speed: float | None
    load: tuple[float, float]


def sample_page(browser: DevTools) -> dict[str, Any] | None:
    raw = browser.evaluate("JSON.stringify(window.surecastPlayer && window.surecastPlayer.state())")
    return json.loads(raw) if raw and raw != "undefined" else None


def run_profile(
    profile: str, link: str, env: dict[str, str], tmp: Path, s3: SeaweedServer, bucket: str, args: argparse.Namespace
) -> Run:
    event = f"latency-{profile}-{link}"
    spool = Path(env["SURECAST_SPOOL_DIR"])
    profile_env = {**env, "SURECAST_ENCODER_PROFILE": profile}
    load_before = os.getloadavg()[0]
    elog = tmp / f"encoder-{event}.log"
    cmd = [str(BIN / "surecast"), "encode", "--event-id", event, "--duration", str(args.settle + args.seconds + 120)]
    encoder = spawn(cmd, profile_env, elog, cwd=tmp)
    watch = Watch(s3.client(), bucket, f"live/{event}/{RENDITION}/live.m3u8")
    threading.Thread(target=watch.run, daemon=True).start()
    direct = f"{s3.endpoint_url}/{bucket}"
    port = free_port()
    plog = tmp / f"player-{event}.log"
    player = spawn(
        [str(BIN / "surecast"), "player", "--stream", f"{direct}/live/{event}/master.m3u8", "--port", str(port)],
        profile_env,
        plog,
        cwd=tmp,
    )
    browser: DevTools | None = None
    samples: list[dict[str, Any]] = []
    ffmpeg_started: float | None = None
    speeds: list[float] = []
    status_path = spool / "events" / event / "encoder-status.json"
    try:
        client = s3.client()
        wait_until(lambda: _exists(client, bucket, f"live/{event}/master.m3u8"), 90, 0.2, log_tail(elog))
        ffmpeg_started = _ffmpeg_start(status_path)
        wait_until(lambda: "surecast player: http://" in plog.read_text(), 20, message=log_tail(plog))
        assert CHROMIUM is not None
        argv = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / ('chromium-' + event)}", "about:blank"]
        browser = DevTools(argv, tmp / f"chromium-{event}.log")
        browser.open_page(f"http://127.0.0.1:{port}/")
        page = browser
        wait_until(lambda: (sample_page(page) or {}).get("latency") is not None, 60, 0.5, "no latency shown")
        time.sleep(args.settle)
        next_at = time.monotonic()
        while len(samples) < args.seconds:
            state = sample_page(browser)
            if state is not None:
                samples.append({**state, "at": time.time()})
            speed = _status(status_path).get("speed")
            if isinstance(speed, (int, float)):
                speeds.append(float(speed))
            next_at += 1.0
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        if browser is not None:
            browser.close()
        terminate(player)
        if encoder.poll() is None:
            os.kill(encoder.pid, signal.SIGINT)  # the event ends as after Ctrl-C: the last segments, the VOD
        try:
            encoder.wait(180)
        except subprocess.TimeoutExpired:
            terminate(encoder)
        watch.stop.set()
    (tmp / f"samples-{event}.json").write_text(json.dumps(samples))
    window = (samples[0]["at"] - 5, samples[-1]["at"]) if samples else (0.0, 0.0)
    journal = Journal(spool)
    try:
        segments = EventStore(journal).load(event, RENDITION)
    finally:
        journal.close()
    closed, listed = [], []
    for s in segments:
        if s.program_time is None or not window[0] <= s.completed_at <= window[1]:
            continue
        closed.append(s.completed_at - (s.program_time + s.duration))
        if s.name in watch.first_listed:
            listed.append(watch.first_listed[s.name] - s.completed_at)
    first = next((s.program_time for s in segments if s.program_time is not None), None)
    offset = first - ffmpeg_started if first is not None and ffmpeg_started is not None else None
    speed = percentile(speeds, 0.05) if speeds else None  # the slowest the encoder ran, near enough
    return Run(profile, link, samples, closed, listed, offset, speed, (load_before, os.getloadavg()[0]))


def _exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except Exception:  # noqa: BLE001 - not there yet
        return False
    return True


def _status(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data


def _ffmpeg_start(status_path: Path) -> float | None:
    """When the encoder's FFmpeg started (its pid from the encoder's status file)."""
    pid = _status(status_path).get("ffmpeg_pid")
    try:
        return psutil.Process(int(pid)).create_time() if pid else None
    except psutil.Error:
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60, help="page samples, one a second")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds of playing before sampling")
    parser.add_argument("--profiles", default="standard,low-latency")
    parser.add_argument("--links", default="loopback,uplink")
    parser.add_argument("--workers", type=int, default=4, help="worker concurrency (production default 4)")
    parser.add_argument("--preset", default="ultrafast", help="x264 preset (production default: veryfast)")
    parser.add_argument("--keep", action="store_true", help="keep the logs and the page's samples")
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("bench_latency needs chromium (apt-get install chromium)")
    links = args.links.split(",")
    if "uplink" in links and os.geteuid() != 0:
        print("bench_latency: the uplink needs root (ip netns, tc, nft); measuring loopback only")
        links = [link for link in links if link != "uplink"]
    tmp = Path(tempfile.mkdtemp(prefix="surecast-latency-"))
    uplink = "uplink" in links
    if uplink:
        link_down()
        link_up()
    relay = None
    s3 = SeaweedServer(tmp / "seaweedfs", s3_bind=HOST_IP if uplink else "127.0.0.1")
    redis = RedisServer()
    runs: list[Run] = []
    try:
        s3.start()
        bucket = "latency"
        s3.create_bucket(bucket)
        admin = s3.client()
        public_read(admin, bucket)  # the page reads the bucket anonymously, like a viewer
        admin.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [cors_rule([])]})
        redis.start(free_port(), tmp / "redis", aof=True, appendfsync="everysec")
        endpoints = {"loopback": s3.endpoint_url}
        if uplink:
            relay, endpoints["uplink"] = start_relay(s3.s3_port)
        for link in links:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("SURECAST_")},
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "SURECAST_REDIS_URL": redis.url,
                "SURECAST_S3_BUCKET": bucket,
                "SURECAST_S3_ENDPOINT_URL": endpoints[link],
                "SURECAST_SPOOL_DIR": str(tmp / f"spool-{link}"),
                "SURECAST_ENCODER_RENDITIONS": RENDITION,
                "SURECAST_ENCODER_FRAMERATE": str(FRAMERATE),
                "SURECAST_ENCODER_PRESET": args.preset,
            }
            wlog = tmp / f"worker-{link}.log"
            worker = spawn(
                [str(BIN / "surecast"), "worker", "-c", str(args.workers), "-n", f"{link}@latency"], env, wlog, cwd=tmp
            )
            try:
                wait_until(lambda w=wlog: " ready." in w.read_text(errors="replace"), 60, 0.2, "worker did not start")
                for profile in args.profiles.split(","):
                    runs.append(run_profile(profile, link, env, tmp, s3, bucket, args))
                    print(f"  done: {profile} on {link}", flush=True)
            finally:
                terminate(worker, 20)
    finally:
        if relay:
            relay.kill()
        redis.stop()
        s3.stop()
        if uplink:
            link_down()
        if args.keep:
            print(f"logs and samples kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(runs, args)


def report(runs: list[Run], args: argparse.Namespace) -> None:
    print(
        f"latency: {RENDITION} at {FRAMERATE} fps (test pattern, x264 {args.preset}), one `surecast worker -c "
        f"{args.workers}`, SeaweedFS; the web player in headless Chromium, {args.seconds} samples a second apart "
        f"after {args.settle:g} s of play; {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    print(
        f"uplink: tbf {RATE_MBIT} Mbit/s toward the S3 server, +{DELAY * 1000:.0f} ms each way (relay), "
        f"{LOSS_PERCENT} % of packets dropped; the page reads the server directly"
    )
    print(
        "| profile | link | glass to glass p50 / p95 / max (s) | target p95 | stalls | closed p50 | listed p50 / p95 |"
        " fetched p50 | behind p50 | encoder speed (p5) | load before / after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        g2g = [s["latency"] for s in r.samples if s.get("latency") is not None]
        behind = [s["behind"] for s in r.samples if s.get("behind") is not None]
        fetched = [s["latency"] - s["behind"] for s in r.samples if None not in (s.get("latency"), s.get("behind"))]
        stalls = (r.samples[-1]["stalls"] - r.samples[0]["stalls"]) if r.samples else 0
        target = TARGETS.get(r.profile)
        p95 = percentile(g2g, 0.95)
        verdict = "" if target is None else f"{target:g} ({'met' if p95 <= target else 'missed'})"
        print(
            f"| {r.profile} | {r.link} | {percentile(g2g, 0.5):.2f} / {p95:.2f} / {max(g2g, default=float('nan')):.2f}"
            f" | {verdict} | {stalls} | {percentile(r.closed, 0.5):.2f} | {percentile(r.listed, 0.5):.2f} / "
            f"{percentile(r.listed, 0.95):.2f} | {percentile(fetched, 0.5):.2f} | {percentile(behind, 0.5):.2f} | "
            f"{'-' if r.speed is None else f'{r.speed:.2f}'} | {r.load[0]:.2f} / {r.load[1]:.2f} |"
        )
    offsets = [f"{r.profile}/{r.link} {r.first_date_after_start:.2f} s" for r in runs if r.first_date_after_start]
    print(
        "not in the figures: FFmpeg's start to its first segment's date (the encoder's own delay, inside every "
        "date, plus FFmpeg's start-up): " + ", ".join(offsets)
    )


if __name__ == "__main__":
    main()
