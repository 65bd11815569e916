"""The surecast soak: a live test pattern through the real stack while the fault schedule runs, then checks.

Redis (AOF, fsync always), real `surecast worker` processes, SeaweedFS S3 behind two fault proxies (the link,
and a corruptor) and `surecast encode`, all on 127.0.0.1 in one work folder; every process in its own
process group, every one stopped on the way out.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.ladder import parse_renditions
from encoder.keys import is_slate
from tests.soak import analysis
from tests.soak.analysis import Cadence, FaultOutcome, SegmentRow
from tests.soak.bucket import Vod, check_vod, list_objects, public_bucket
from tests.soak.config import SoakConfig
from tests.soak.faults import Applied, FaultRunner
from tests.soak.observe import LivePoller, Sampler
from tests.soak.schedule import Kind, scaled
from tests.soak.targets import DiskFiller, SurecastTargets
from tests.support.faultproxy import FaultProxy
from tests.support.procs import S3_ENV, RedisServer, free_port, log_tail, spawn, terminate, wait_until
from tests.support.seaweed import SeaweedServer
from tests.support.stack import BIN, Stack, direct_s3_client

log = logging.getLogger(__name__)
BUCKET = "soak-surecast"
EVENT = "soak"
PREFIX = f"live/{EVENT}"
START_TIMEOUT = 60.0
EXIT_MARGIN = 120.0


@dataclass
class SurecastResult:
    config: SoakConfig
    encoder_exit: int | None
    produced: dict[str, int]  # slates included (they are journaled, uploaded and listed live like any segment)
    slates: dict[str, int]  # listed while FFmpeg made nothing; the VOD leaves them out
    in_bucket: int
    journal_verified: int
    intact: int
    lost: list[str]
    corrupted: list[str]
    unjournaled: list[str]
    numbering_contiguous: bool
    polls: int
    entries_checked: int
    miss_polls: int
    missing_listed: list[str]
    corrupt_reads: int
    poll_errors: int
    faults: list[FaultOutcome]
    fault_errors: list[str]
    peak_spool: int
    peak_worker_rss: int
    peak_worker_rss_role: str
    peak_worker_tree_rss: int
    retries: int
    integrity_reuploads: int
    segment_retries: int
    segment_integrity_reuploads: int
    flips_injected: int
    link_faults_injected: int
    cadence: Cadence
    ffmpeg_restarts: int | None
    vods: dict[str, Vod | None]
    stream_rate: float
    uplink: float
    median_lag_before_faults: float | None
    # seconds the encoder reported the disk low (or recording paused) inside / outside the disk-low window
    low_disk_seen: tuple[float, float]
    load: tuple[float, float]  # mean and max 1-minute load average during the run
    disk_floor_mb: int
    disk_filled: int
    wall_seconds: float
    applied: list[Applied] = field(default_factory=list)

    @property
    def produced_total(self) -> int:
        return sum(self.produced.values())


def _journal_rows(spool: Path) -> tuple[list[SegmentRow], dict[str, int]]:
    db = sqlite3.connect(f"file:{spool / 'journal.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute(
            """SELECT s.rendition, s.seq, s.key, coalesce(f.size, 0), coalesce(f.md5, ''), s.duration,
                      s.completed_at, coalesce(f.created_at, s.completed_at), f.verified_at,
                      coalesce(f.state, 'missing'), s.discontinuity
               FROM encoder_segments s LEFT JOIN files f ON f.key = s.key WHERE s.event = ?""",
            (EVENT,),
        ).fetchall()
        sums = db.execute(
            """SELECT coalesce(sum(retries), 0), coalesce(sum(integrity_reuploads), 0),
                      coalesce(sum(CASE WHEN kind = 'segment' THEN retries END), 0),
                      coalesce(sum(CASE WHEN kind = 'segment' THEN integrity_reuploads END), 0) FROM files"""
        ).fetchone()
    finally:
        db.close()
    totals = dict(zip(("retries", "integrity", "segment_retries", "segment_integrity"), sums, strict=True))
    return [SegmentRow(*r[:10], bool(r[10])) for r in rows], totals


def _status(spool: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((spool / "events" / EVENT / "encoder-status.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data


def _env(cfg: SoakConfig, redis: RedisServer, link: FaultProxy, spool: Path, floor_mb: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SURECAST_")},
        **S3_ENV,
        **cfg.limits,
        "SURECAST_REDIS_URL": redis.url,
        "SURECAST_S3_BUCKET": BUCKET,
        "SURECAST_S3_ENDPOINT_URL": f"http://127.0.0.1:{link.port}",
        "SURECAST_S3_PREFIX": "live",
        "SURECAST_S3_ACCESS_KEY_ID": "testing",
        "SURECAST_S3_SECRET_ACCESS_KEY": "testing",
        "SURECAST_SPOOL_DIR": str(spool),
        "SURECAST_ENCODER_PRESET": cfg.preset,
        "SURECAST_ENCODER_FRAMERATE": str(cfg.framerate),
        "SURECAST_ENCODER_FINAL_WAIT": str(cfg.final_wait),
        "SURECAST_ENCODER_MIN_FREE_MB": str(floor_mb),
        # Recording pauses below the floor and resumes as soon as the filler is gone.
        "SURECAST_ENCODER_RESUME_MARGIN_MB": "0",
    }


def run_surecast(cfg: SoakConfig, workdir: Path) -> SurecastResult:
    """Run one soak in ``workdir`` and return its figures; every process is stopped before returning."""
    began = time.monotonic()
    schedule = scaled(cfg.duration)
    names = [r.name for r in parse_renditions(cfg.renditions)]
    media_keys = [f"{PREFIX}/{n}/live.m3u8" for n in names]
    spool = workdir / "spool"
    spool.mkdir(parents=True)
    with ExitStack() as cleanup:
        server = SeaweedServer(workdir / "seaweedfs")
        server.start()
        cleanup.callback(server.stop)
        redis = RedisServer()
        redis.start(free_port(), workdir / "redis", aof=True)
        cleanup.callback(redis.stop)
        corruptor = FaultProxy(server.port)
        corruptor.start()
        cleanup.callback(corruptor.stop)
        link = FaultProxy(corruptor.port)
        link.start()
        cleanup.callback(link.stop)
        s3 = direct_s3_client(server.endpoint_url)
        s3.create_bucket(Bucket=BUCKET)
        disk = DiskFiller(workdir, cfg.disk_margin_bytes, cfg.disk_overshoot_bytes)
        cleanup.callback(disk.release)
        env = _env(cfg, redis, link, spool, disk.floor_mb)
        stack = Stack(workdir, redis, server, link, BUCKET, spool, env, s3)
        cleanup.callback(stack.stop)
        targets = SurecastTargets(
            stack,
            corruptor,
            disk,
            cfg.uplink_bytes_per_sec,
            cfg.throttle_bytes_per_sec,
            cfg.workers,
            cfg.concurrency,
        )
        targets.link_up()
        targets.start_workers()
        cmd = [
            str(BIN / "surecast"), "encode", "--duration", f"{cfg.duration:g}", "--event-id", EVENT,
            "--renditions", cfg.renditions, "--segment-seconds", f"{cfg.segment_seconds:g}",
            "--policy", cfg.policy, "-l", "INFO",
        ]  # fmt: skip
        encoder_log = workdir / "encoder.log"
        encoder = spawn(cmd, env, encoder_log, cwd=workdir)
        cleanup.callback(terminate, encoder, 15)
        wait_until(
            lambda: _status(spool) or encoder.poll() is not None, START_TIMEOUT, message="the encoder did not start"
        )
        if encoder.poll() is not None:
            raise RuntimeError(f"encoder exited at start:\n{log_tail(encoder_log)}")
        t0 = time.time()
        poller = LivePoller(
            direct_s3_client(server.endpoint_url),
            BUCKET,
            [*media_keys, f"{PREFIX}/master.m3u8"],
            interval=cfg.poll_interval,
        )
        sampler = Sampler(spool, targets.live_workers, lambda: _status(spool))
        runner = FaultRunner(schedule, targets, t0)
        for part in (poller, sampler, runner):
            part.start()
            cleanup.callback(part.stop)
        try:
            code: int | None = encoder.wait(cfg.duration + cfg.final_wait + EXIT_MARGIN)
        except subprocess.TimeoutExpired:
            code = None
        runner.stop()
        sampler.stop()
        time.sleep(4 * cfg.poll_interval)  # a last look at the final live playlists
        poller.stop()
        if code is None or code != 0:
            log.error("encoder exit %s:\n%s", code, log_tail(encoder_log))
        result = _collect(
            cfg,
            code,
            s3,
            server.endpoint_url,
            spool,
            names,
            media_keys,
            poller,
            sampler,
            runner,
            link,
            corruptor,
            disk,
            t0,
            began,
        )
        _save(workdir, result, poller, sampler)
        return result


def _save(workdir: Path, result: SurecastResult, poller: LivePoller, sampler: Sampler) -> None:
    """The raw record of the run, for a later look: figures, every poll, every sample."""
    data = {
        "result": asdict(result),
        "polls": [asdict(p) for p in poller.polls],
        "samples": [asdict(s) for s in sampler.samples],
    }
    (workdir / "soak-data.json").write_text(json.dumps(data, default=str))


def _collect(
    cfg: SoakConfig,
    code: int | None,
    s3: Any,
    endpoint: str,
    spool: Path,
    names: list[str],
    media_keys: list[str],
    poller: LivePoller,
    sampler: Sampler,
    runner: FaultRunner,
    link: FaultProxy,
    corruptor: FaultProxy,
    disk: DiskFiller,
    t0: float,
    began: float,
) -> SurecastResult:
    """Everything checked after the event: journal against bucket, playlists, polls, samples, decode."""
    rows, totals = _journal_rows(spool)
    stored = list_objects(s3, BUCKET, f"{PREFIX}/")
    lost = sorted(r.key for r in rows if r.key not in stored)
    corrupted = sorted(r.key for r in rows if r.key in stored and stored[r.key][0] != r.md5)
    known = {r.key for r in rows}
    on_disk = [f"{PREFIX}/{n}/{p.name}" for n in names for p in (spool / "events" / EVENT / n).glob("seg_*.ts")]
    completed = {r.key: r.completed_at for r in rows}
    timeline = analysis.lag_timeline(poller.polls, completed, media_keys)
    first_fault = min((a.started for a in runner.applied if a.started is not None), default=cfg.duration)
    public_bucket(s3, BUCKET)
    vods = {n: check_vod(s3, BUCKET, f"{PREFIX}/{n}/vod.m3u8", endpoint, max(120.0, cfg.duration)) for n in names}
    disk_window = next((a for a in runner.applied if a.fault.kind == Kind.DISK_LOW), None)
    inside = outside = 0.0
    for sample in sampler.samples:
        if not (sample.extra.get("low_disk") or sample.extra.get("recording_paused_since")):
            continue
        at = sample.at - t0
        within = (
            disk_window is not None
            and disk_window.started is not None
            and disk_window.started <= at <= (disk_window.healed or at) + 6  # the guard looks every 5 s
        )
        inside, outside = (inside + sampler.interval, outside) if within else (inside, outside + sampler.interval)
    loads = [s.load1 for s in sampler.samples] or [0.0]
    restarts = next((s.extra.get("ffmpeg_restarts") for s in reversed(sampler.samples) if s.extra), None)
    misses = [p for p in poller.polls if p.missing and not p.corrupt]
    return SurecastResult(
        config=cfg,
        encoder_exit=code,
        produced={n: sum(1 for r in rows if r.rendition == n) for n in names},
        slates={n: sum(1 for r in rows if r.rendition == n and is_slate(r.key)) for n in names},
        in_bucket=sum(1 for r in rows if r.key in stored),
        journal_verified=sum(1 for r in rows if r.state == "verified"),
        intact=sum(1 for r in rows if r.key in stored and stored[r.key][0] == r.md5),
        lost=lost,
        corrupted=corrupted,
        unjournaled=sorted(set(on_disk) - known),
        # FFmpeg's numbering; a slate (listed while FFmpeg made nothing: a restart, a paused recording) takes none
        numbering_contiguous=all(
            analysis.contiguous(r.seq for r in rows if r.rendition == n and not is_slate(r.key)) for n in names
        ),
        polls=len(poller.polls),
        entries_checked=sum(p.entries for p in poller.polls),
        miss_polls=len(misses),
        missing_listed=sorted({m for p in misses for m in p.missing}),
        corrupt_reads=sum(1 for p in poller.polls if p.corrupt),
        poll_errors=poller.errors,
        faults=analysis.fault_outcomes(
            runner.applied,
            t0,
            rows,
            timeline,
            cfg.uplink_bytes_per_sec,
            cfg.throttle_bytes_per_sec,
            cfg.segment_seconds,
        ),
        fault_errors=runner.errors,
        peak_spool=max((s.spool_bytes for s in sampler.samples), default=0),
        peak_worker_rss=max((s.worker_rss_max for s in sampler.samples), default=0),
        peak_worker_rss_role=max(sampler.samples, key=lambda s: s.worker_rss_max).worker_rss_max_role
        if sampler.samples
        else "",
        peak_worker_tree_rss=max((s.worker_tree_rss_max for s in sampler.samples), default=0),
        retries=int(totals["retries"]),
        integrity_reuploads=int(totals["integrity"]),
        segment_retries=int(totals["segment_retries"]),
        segment_integrity_reuploads=int(totals["segment_integrity"]),
        flips_injected=corruptor.faults_injected,
        link_faults_injected=link.faults_injected,
        cadence=analysis.cadence(rows, cfg.segment_seconds),
        ffmpeg_restarts=restarts,
        vods=vods,
        stream_rate=analysis.stream_rate(rows),
        uplink=cfg.uplink_bytes_per_sec,
        median_lag_before_faults=analysis.median_lag(timeline, t0 + first_fault),
        low_disk_seen=(inside, outside),
        load=(sum(loads) / len(loads), max(loads)),
        disk_floor_mb=disk.floor_mb,
        disk_filled=disk.filled,
        wall_seconds=time.monotonic() - began,
        applied=list(runner.applied),
    )
