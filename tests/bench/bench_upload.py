"""Uploader benchmark: surecast workers versus raw boto3 with the same concurrency, in the same run.

Prints figures; asserts nothing. Run:  .venv/bin/python -m tests.bench.bench_upload [--workers N]

- throughput: 200 x 2 MiB + 4 x 64 MiB through the pipeline (journal, Redis, celery workers, integrity
  test) against raw put_object/upload_file from a thread pool of the same size, same S3 server;
- enqueue-to-upload-start latency with idle workers (journal time of recording -> worker starting);
- peak RSS of any worker process during the 64 MiB uploads.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import psutil
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from core.contract import PRIORITY_LIVE, FileKind, UploadJob
from core.settings import Settings
from journal.files import Journal, State
from journal.outbox import Publisher
from tests.support.procs import S3_ENV, RedisServer, S3Server, free_port, log_tail, spawn, terminate, wait_until
from tests.support.stack import BIN, TEST_ENV, direct_s3_client
from uploader.parts import MIB

SMALL, SMALL_COUNT, LARGE, LARGE_COUNT = 2 * MIB, 200, 64 * MIB, 4


def make_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, size in enumerate([SMALL] * SMALL_COUNT + [LARGE] * LARGE_COUNT):
        path = folder / f"f{i:03}.bin"
        block = hashlib.sha256(str(i).encode()).digest() * (MIB // 32)
        with path.open("wb") as f:
            for _ in range(size // MIB):
                f.write(block)
        files.append(path)
    return files


_raw_client: Any = None


def _raw_one(endpoint: str, bucket: str, path: Path, threshold: int, part_size: int, prefix: str = "raw") -> None:
    """Upload one file with plain boto3, default retries (one client per process, made on first use)."""
    global _raw_client
    if _raw_client is None:
        _raw_client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}),
        )
    if path.stat().st_size < threshold:
        with path.open("rb") as body:
            _raw_client.put_object(Bucket=bucket, Key=f"{prefix}/{path.name}", Body=body)
    else:
        config = TransferConfig(
            multipart_threshold=threshold, multipart_chunksize=part_size, max_concurrency=1, use_threads=False
        )
        _raw_client.upload_file(str(path), bucket, f"{prefix}/{path.name}", Config=config)


def raw_boto3(
    endpoint: str, bucket: str, files: list[Path], workers: int, settings: Settings, processes: bool
) -> float:
    """Seconds for a pool of ``workers`` threads or processes to upload ``files`` with plain boto3."""
    pool_type = ProcessPoolExecutor if processes else ThreadPoolExecutor
    threshold, part = settings.s3.multipart_threshold, settings.s3.part_size
    with pool_type(workers) as pool:
        list(
            pool.map(
                _raw_one,
                [endpoint] * workers,
                [bucket] * workers,
                [files[0]] * workers,
                [threshold] * workers,
                [part] * workers,
            )
        )  # warm up: clients made, imports done
        started = time.perf_counter()
        list(
            pool.map(
                _raw_one,
                [endpoint] * len(files),
                [bucket] * len(files),
                files,
                [threshold] * len(files),
                [part] * len(files),
            )
        )
        return time.perf_counter() - started


def jobs_for(spool: Path, paths: list[Path], tag: str) -> list[UploadJob]:
    """Upload jobs with their MD5s, computed before any clock starts (the producer pays this once)."""
    return [
        UploadJob(
            path=path.relative_to(spool).as_posix(),
            key=f"live/{tag}/{path.name}",
            size=path.stat().st_size,
            md5=hashlib.md5(path.read_bytes()).hexdigest(),
            kind=FileKind.SEGMENT,
        )
        for path in paths
    ]


def enqueue(journal: Journal, publisher: Publisher, jobs: list[UploadJob]) -> list[str]:
    """Journal then publish, as the encoder does."""
    rows = []
    for job in jobs:
        journal.record(job, priority=PRIORITY_LIVE)
        rows.append(journal.get(job.key))
    assert len(publisher.publish([r for r in rows if r])) == len(rows)
    return [job.key for job in jobs]


def all_verified(journal: Journal, keys: list[str]) -> bool:
    """One query, so the benchmark's own polling steals little CPU from the workers it measures."""
    if len(keys) == 1:
        row = journal.get(keys[0])
        return row is not None and row.state == State.VERIFIED
    return journal.totals().files["verified"] >= len(keys) + 0


def sample_rss(pids: list[int], stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                for p in [proc, *proc.children(recursive=True)]:
                    peak[0] = max(peak[0], p.memory_info().rss)
            except psutil.NoSuchProcess:
                continue
        stop.wait(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4, help="upload processes, and raw boto3 threads")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="surecast-bench-"))
    spool = tmp / "spool"
    files = make_files(spool / "bench")
    moto = S3Server(tmp / "moto.log")
    moto.start()
    redis = RedisServer()
    redis.start(free_port(), tmp / "redis", aof=True)
    env = {
        **os.environ,
        **S3_ENV,
        **TEST_ENV,
        "SURECAST_REDIS_URL": redis.url,
        "SURECAST_S3_BUCKET": "bench",
        "SURECAST_S3_ENDPOINT_URL": moto.endpoint_url,
        "SURECAST_SPOOL_DIR": str(spool),
        "SURECAST_S3_MULTIPART_THRESHOLD": str(16 * MIB),
        "SURECAST_S3_PART_SIZE": str(8 * MIB),
        "SURECAST_UPLOAD_SOFT_TIME_LIMIT": "600",
        "SURECAST_UPLOAD_TIME_LIMIT": "660",
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith(("SURECAST_", "AWS_"))})
    settings = Settings()
    s3 = direct_s3_client(moto.endpoint_url)
    s3.create_bucket(Bucket="bench")
    journal = Journal(spool)
    publisher = Publisher(settings)
    worker = spawn([str(BIN / "surecast"), "worker", "-c", str(args.workers), "-l", "INFO"], env, tmp / "worker.log")
    try:
        wait_until(lambda: _ready(tmp / "worker.log"), 60, message="worker did not start")
        total = SMALL * SMALL_COUNT + LARGE * LARGE_COUNT

        raw: dict[str, tuple[float, float]] = {}
        for kind in ("threads", "processes"):
            small = raw_boto3(
                moto.endpoint_url, "bench", files[:SMALL_COUNT], args.workers, settings, kind == "processes"
            )
            large = raw_boto3(
                moto.endpoint_url, "bench", files[SMALL_COUNT:], args.workers, settings, kind == "processes"
            )
            raw[kind] = (small, large)

        peak = [0]
        stop = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=([worker.pid], stop, peak), daemon=True)
        small_jobs = jobs_for(spool, files[:SMALL_COUNT], "small")
        large_jobs = jobs_for(spool, files[SMALL_COUNT:], "large")
        started = time.perf_counter()
        keys = enqueue(journal, publisher, small_jobs)
        wait_until(lambda: all_verified(journal, keys), 600, interval=0.1, message="small files not delivered")
        ours_small = time.perf_counter() - started
        sampler.start()
        large_keys = enqueue(journal, publisher, large_jobs)
        wait_until(
            lambda: all_verified(journal, keys + large_keys), 600, interval=0.1, message="large files not delivered"
        )
        ours_seconds = time.perf_counter() - started
        ours_large = ours_seconds - ours_small
        stop.set()
        sampler.join()

        latencies = []
        probe = spool / "bench" / "probe.bin"
        probe.write_bytes(os.urandom(64 * 1024))
        for i in range(60):
            name = spool / "bench" / f"probe{i}.bin"
            name.write_bytes(probe.read_bytes() + i.to_bytes(4, "big"))
            (key,) = enqueue(journal, publisher, jobs_for(spool, [name], "probe"))
            wait_until(lambda k=key: all_verified(journal, [k]), 30, interval=0.005)
            row = journal.get(key)
            assert row and row.started_at
            latencies.append((row.started_at - row.created_at) * 1000)
            time.sleep(0.05)
        latencies.sort()

        mib = total / MIB
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; S3 server: moto (loopback)")
        print(f"files: {SMALL_COUNT} x 2 MiB + {LARGE_COUNT} x 64 MiB = {mib:.0f} MiB; concurrency {args.workers}")
        print(
            f"surecast (journal+Redis+celery+integrity): {ours_seconds:6.2f} s {mib / ours_seconds:6.1f} MiB/s "
            f"(2 MiB files {ours_small:.2f} s, 64 MiB files {ours_large:.2f} s)"
        )
        for kind, (small, large) in raw.items():
            seconds = small + large
            print(
                f"raw boto3, {args.workers} {kind}: {seconds:6.2f} s {mib / seconds:6.1f} MiB/s "
                f"(2 MiB files {small:.2f} s, 64 MiB files {large:.2f} s)"
            )
            print(
                f"  throughput ratio surecast/raw {kind}: {seconds / ours_seconds:.2f} (target >= 0.85); "
                f"2 MiB {small / ours_small:.2f}, 64 MiB {large / ours_large:.2f}"
            )
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"enqueue-to-upload-start, idle workers, n={len(latencies)}: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
            "(targets 15 / 100 ms)"
        )
        print(f"peak worker RSS during 64 MiB uploads: {peak[0] / MIB:.1f} MiB (target < 150 MB)")
    except AssertionError:
        print(log_tail(tmp / "worker.log"), file=sys.stderr)
        raise
    finally:
        terminate(worker, 10)
        redis.stop()
        moto.stop()


def _ready(log: Path) -> bool:
    return log.exists() and "ready" in log.read_text(errors="replace")


if __name__ == "__main__":
    main()
