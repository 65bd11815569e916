"""The same faults against FFmpeg's own upload: the HLS muxer PUTting each file to S3 itself.

FFmpeg runs the very command `surecast encode` builds (same test pattern, ladder, x264 and AAC options),
with its outputs turned into URLs on SeaweedFS (path-style, unsigned; the bucket policy allows anonymous PUT,
as FFmpeg cannot sign requests), ``-method PUT``, a 30-segment live
playlist, and without or with ``-ignore_io_errors 1``. Both variants run at once, each through its own
link proxy and corrupting relay, driven by the same schedule:

    FFmpeg ──> link FaultProxy (uplink throttle, refuse, 503) ──> FlipRelay (chunked bodies) ──> SeaweedFS

A supervisor restarts FFmpeg one second after it exits early (as systemd or a shell loop would), with
numbering continued, and counts that as an abort. Worker, Redis and disk faults do not apply: FFmpeg
keeps no queue and no local copy.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from core.encoder_settings import EncoderSection
from encoder.command import EncodePlan, ffmpeg_argv
from encoder.ffmpegproc import find_ffmpeg
from encoder.sources import parse_source
from tests.soak.bucket import list_objects, public_bucket
from tests.soak.config import SoakConfig
from tests.soak.faults import FaultRunner
from tests.soak.fliprelay import FlipRelay
from tests.soak.observe import LivePoller
from tests.soak.schedule import scaled
from tests.support.faultproxy import FaultProxy
from tests.support.seaweed import SeaweedServer
from tests.support.stack import direct_s3_client

BUCKET = "soak-direct"
EVENT = "soak"
PLACEHOLDER = "/SOAKDIR"
LIVE_LIST_SIZE = "30"  # surecast's live window
RESTART_DELAY = 1.0
STOP_TIMEOUT = 20.0
_OPENING = re.compile(r"Opening '(http://[^']+)' for writing")


def direct_argv(cfg: SoakConfig, base_url: str, start: int, ignore_io_errors: bool) -> list[str]:
    """`surecast encode`'s FFmpeg command with HTTP PUT outputs under ``base_url``."""
    section = EncoderSection(
        renditions=cfg.renditions, preset=cfg.preset, framerate=cfg.framerate, segment_seconds=cfg.segment_seconds
    )
    top = section.ladder[0]
    source = parse_source("testsrc", "none", top.width, top.height, cfg.framerate)
    dirs = {r.name: Path(PLACEHOLDER) / r.name for r in section.ladder}
    argv = ffmpeg_argv(find_ffmpeg(""), EncodePlan(source, section.ladder, dirs, start, section))
    out: list[str] = []
    for i, arg in enumerate(argv):
        previous = argv[i - 1] if i else ""
        if previous == "-loglevel":
            arg = "verbose"  # for the "Opening '...' for writing" lines
        elif previous == "-hls_flags":
            arg = "independent_segments"  # temp_file renames, which HTTP cannot do
        elif previous == "-hls_list_size":
            arg = LIVE_LIST_SIZE
        if arg.startswith(PLACEHOLDER) and arg.endswith("/ffmpeg.m3u8"):
            out += ["-method", "PUT"] + (["-ignore_io_errors", "1"] if ignore_io_errors else [])
            arg = arg.replace("/ffmpeg.m3u8", "/live.m3u8")
        out.append(arg.replace(PLACEHOLDER, base_url))
    return out


@dataclass
class DirectResult:
    label: str
    produced: int
    in_bucket: int
    lost: int
    corrupted: int
    flipped: int
    polls: int
    miss_polls: int
    missing_listed: int
    corrupt_reads: int
    aborts: list[tuple[float, int | None]]
    max_gap: float
    unencoded_seconds: float

    @property
    def aborted_text(self) -> str:
        if not self.aborts:
            return "no"
        codes = sorted({str(code) for _, code in self.aborts})
        return f"yes, {len(self.aborts)}x (exit {', '.join(codes)})"


@dataclass
class DirectVariant:
    """One FFmpeg-direct variant: its proxies, its supervisor thread and what FFmpeg said it opened."""

    label: str
    ignore_io_errors: bool
    prefix: str
    workdir: Path
    link: FaultProxy
    relay: FlipRelay
    opened: list[tuple[float, str]] = field(default_factory=list)
    aborts: list[tuple[float, int | None]] = field(default_factory=list)
    runs: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each FFmpeg run, epoch
    _proc: subprocess.Popen[str] | None = None
    _thread: threading.Thread | None = None

    def supervise(self, cfg: SoakConfig, t0: float) -> None:
        self._thread = threading.Thread(target=self._loop, args=(cfg, t0), daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        self.kill()

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(5)

    def _next_start(self) -> int:
        seqs = [int(m) for _, url in self.opened for m in re.findall(r"/seg_(\d+)\.ts$", url)]
        return max(seqs) + 1 if seqs else 0

    def _loop(self, cfg: SoakConfig, t0: float) -> None:
        ends = t0 + cfg.duration
        base = f"http://127.0.0.1:{self.link.port}/{BUCKET}/{self.prefix}"
        with (self.workdir / f"ffmpeg-{self.label.replace(' ', '_')}.log").open("a") as log:
            while time.time() < ends:
                argv = direct_argv(cfg, base, self._next_start(), self.ignore_io_errors)
                log.write(f"--- {time.time() - t0:.2f} {' '.join(argv)}\n")
                started = time.time()
                self._proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
                )
                reader = threading.Thread(target=self._read, args=(self._proc.stderr, log, t0), daemon=True)
                reader.start()
                while self._proc.poll() is None and time.time() < ends:
                    time.sleep(0.1)
                if self._proc.poll() is None:
                    self._proc.send_signal(signal.SIGINT)  # the end of the event: FFmpeg finishes its playlists
                    try:
                        self._proc.wait(STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        self.kill()
                    reader.join(5)
                    self.runs.append((started, min(time.time(), ends)))
                    return
                reader.join(5)
                self.runs.append((started, time.time()))
                self.aborts.append((time.time() - t0, self._proc.returncode))
                log.write(f"--- {time.time() - t0:.2f} FFmpeg exited early with {self._proc.returncode}\n")
                time.sleep(RESTART_DELAY)

    def _read(self, stream: IO[str] | None, log: IO[str], t0: float) -> None:
        if stream is None:
            return
        for line in stream:
            now = time.time()
            log.write(f"{now - t0:8.2f} {line}")
            match = _OPENING.search(line)
            if match:
                self.opened.append((now, match.group(1)))


def _segment_opens(variant: DirectVariant) -> list[tuple[float, str]]:
    """(when, object key) of every segment upload FFmpeg started, in order.

    With ``-ignore_io_errors 1`` a segment whose PUT could not even be opened is dropped and its number
    is used again for the next segment, so a key can appear twice: each opening is one segment of media.
    """
    marker = f"/{BUCKET}/"
    return [(at, url.split(marker, 1)[1]) for at, url in variant.opened if url.endswith(".ts") and marker in url]


def run_direct(cfg: SoakConfig, workdir: Path) -> list[DirectResult]:
    """Both variants at once under the scaled schedule; every process and proxy stopped before returning."""
    workdir.mkdir(parents=True, exist_ok=True)
    names = [r.name for r in EncoderSection(renditions=cfg.renditions).ladder]
    with ExitStack() as cleanup:
        server = SeaweedServer(workdir / "seaweedfs")
        server.start()
        cleanup.callback(server.stop)
        s3 = direct_s3_client(server.endpoint_url)
        s3.create_bucket(Bucket=BUCKET)
        public_bucket(s3, BUCKET, write=True)
        variants = []
        for label, ignore in (("FFmpeg PUT", False), ("FFmpeg PUT ignore_io_errors", True)):
            relay = FlipRelay(server.port)
            relay.start()
            cleanup.callback(relay.stop)
            link = FaultProxy(relay.port)
            link.start()
            cleanup.callback(link.stop)
            prefix = f"{'ignore' if ignore else 'plain'}/{EVENT}"
            variants.append(DirectVariant(label, ignore, prefix, workdir, link, relay))
        targets = DirectTargets(variants, cfg.uplink_bytes_per_sec, cfg.throttle_bytes_per_sec)
        targets.link_up()
        pollers = [
            LivePoller(
                direct_s3_client(server.endpoint_url),
                BUCKET,
                [f"{v.prefix}/{n}/live.m3u8" for n in names],
                interval=cfg.poll_interval,
            )
            for v in variants
        ]
        t0 = time.time()
        for v in variants:
            v.supervise(cfg, t0)
            cleanup.callback(v.kill)
        runner = FaultRunner(scaled(cfg.duration), targets, t0)
        for part in (*pollers, runner):
            part.start()
            cleanup.callback(part.stop)
        for v in variants:
            v.join(cfg.duration + STOP_TIMEOUT + 30)
        time.sleep(2 * cfg.poll_interval)  # a last look at the final playlists
        for part in (*pollers, runner):
            part.stop()
        results = [_result(cfg, v, p, s3) for v, p in zip(variants, pollers, strict=True)]
        record = [
            {
                "result": asdict(r),
                "opened": v.opened,
                "runs": v.runs,
                "flipped": v.relay.flipped,
                "polls": [asdict(x) for x in p.polls],
            }
            for r, v, p in zip(results, variants, pollers, strict=True)
        ]
        (workdir / "direct-data.json").write_text(json.dumps(record, default=str))
        return results


def _result(cfg: SoakConfig, v: DirectVariant, poller: LivePoller, s3: Any) -> DirectResult:
    opens = _segment_opens(v)
    keys = {key for _, key in opens}
    stored = list_objects(s3, BUCKET, f"{v.prefix}/")
    flipped_keys = {line.split(" ")[1].split(f"/{BUCKET}/", 1)[-1] for line in v.relay.flipped if " " in line}
    per_rendition: dict[str, list[float]] = {}
    for at, key in opens:
        per_rendition.setdefault(key.rsplit("/", 1)[0], []).append(at)
    gaps = [b - a for times in per_rendition.values() for a, b in zip(times, times[1:], strict=False)]
    misses = [p for p in poller.polls if p.missing and not p.corrupt]
    in_bucket = sum(1 for k in keys if k in stored)
    return DirectResult(
        label=v.label,
        produced=len(opens),
        in_bucket=in_bucket,
        lost=len(opens) - in_bucket,
        corrupted=sum(1 for k in flipped_keys if k.endswith(".ts") and k in stored),
        flipped=len(v.relay.flipped),
        polls=len(poller.polls),
        miss_polls=len(misses),
        missing_listed=len({m for p in misses for m in p.missing}),
        corrupt_reads=sum(1 for p in poller.polls if p.corrupt),
        aborts=v.aborts,
        max_gap=max(gaps, default=0.0),
        unencoded_seconds=max(0.0, cfg.duration - sum(end - start for start, end in v.runs)),
    )


class DirectTargets:
    """Link faults for every FFmpeg-direct variant at once."""

    link_only = True

    def __init__(self, variants: list[DirectVariant], uplink: int, throttle: int) -> None:
        self.variants = variants
        self.uplink = uplink
        self.throttle = throttle

    def link_up(self) -> None:
        for v in self.variants:
            v.link.set_mode("throttle", bytes_per_sec=self.uplink)

    def link_down(self) -> None:
        for v in self.variants:
            v.link.set_mode("refuse")

    def link_throttle(self) -> None:
        for v in self.variants:
            v.link.set_mode("throttle", bytes_per_sec=self.throttle)

    def corrupt(self, on: bool) -> None:
        for v in self.variants:
            if on:
                v.relay.armed.set()
            else:
                v.relay.armed.clear()

    def slowdown(self, on: bool) -> None:
        for v in self.variants:
            if on:
                v.link.set_mode("http_error", status=503, code="SlowDown", message="Please reduce your request rate.")
            else:
                v.link.set_mode("throttle", bytes_per_sec=self.uplink)

    def kill_workers(self, count: int | None) -> None:
        raise RuntimeError("no workers in FFmpeg's direct upload")

    def start_workers(self) -> None:
        raise RuntimeError("no workers in FFmpeg's direct upload")

    def restart_redis(self) -> None:
        raise RuntimeError("no Redis in FFmpeg's direct upload")

    def disk_low(self, on: bool) -> None:
        raise RuntimeError("no spool in FFmpeg's direct upload")
