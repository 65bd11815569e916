"""Big-file benchmark (root): one large file over an emulated uplink, surecast against the plain tools. Prints.

Run:  sudo .venv/bin/python -m tests.bench.bench_bigfile [--size 2048] [--workers 4] [--no-peers] [--worker-log F]

    this machine ──> 10.77.0.2 [veth: tbf 200 Mbit/s toward the namespace; nft drops 0.1 % of the packets]
        ──> a delay relay in the namespace (tests/support/delayline.py: +20 ms each way, 40 ms round trip)
        ──> SeaweedFS's S3 gateway on 10.77.0.1

One file of ``--size`` MiB, each tool in turn to its own key: raw boto3 ``upload_file`` (default
TransferConfig: 8 MiB parts, 10 threads), then `surecast send` with ``--workers`` upload processes (by
default as many as a user gets) already running (its clock runs from the command's start, which copies the
file into the spool, to the file verified in the journal: the copy, the hashing, every part and the
completion with its integrity test), and, unless ``--no-peers``, `aws s3 cp`, s5cmd and rclone with their
defaults (the peers venv of bench_upload). ``--worker-log`` keeps the worker's log (a timestamp per part). Printed:
wall seconds, Mbit/s, the ratio to the best other tool, and the load average before and after each run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from core.settings import WorkerSection
from journal.files import Journal, State
from tests.bench.bench_uplink import HOST_IP, link_down, link_up, raw_client, start_relay
from tests.bench.bench_upload import peers_venv
from tests.support.procs import RedisServer, free_port, spawn, terminate, wait_until
from tests.support.seaweed import MAX_VOLUMES, VOLUME_SIZE_MB, SeaweedServer
from tests.support.stack import BIN

RATE_MBIT, DELAY, LOSS_PER_MILLE = 200, 0.02, 1
MIB = 1024 * 1024


@dataclass
class Run:
    name: str
    seconds: float  # nan when the tool failed
    load_before: float
    load_after: float
    error: str = ""


def make_file(path: Path, size_mib: int) -> None:
    block = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(256)) * (MIB // (32 * 256))
    with path.open("wb") as f:
        for i in range(size_mib):
            f.write(hashlib.md5(str(i).encode()).digest() + block[16:])


def load() -> float:
    return os.getloadavg()[0]


def timed(name: str, action: object) -> Run:
    """Run ``action`` and time it; a tool that fails is reported (with its output's end) and the others run."""
    before = load()
    started = time.perf_counter()
    try:
        action()  # type: ignore[operator]
    except subprocess.CalledProcessError as exc:
        run = Run(name, float("nan"), before, load(), f"exit {exc.returncode}: {str(exc.output or '')[-600:]}")
    else:
        run = Run(name, time.perf_counter() - started, before, load())
    print(f"{name}: " + (f"{run.seconds:.1f} s" if not run.error else f"FAILED, {run.error}"), flush=True)
    return run


def raw_boto3(endpoint: str, bucket: str, path: Path) -> None:
    raw_client(endpoint).upload_file(str(path), bucket, f"raw/{path.name}")


def surecast_send(env: dict[str, str], spool: Path, path: Path) -> None:
    started = time.perf_counter()
    result = subprocess.run(
        [str(BIN / "surecast"), "send", "--key-prefix", "surecast", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key = result.stdout.split(" -> s3://")[1].split(":")[0].split("/", 1)[1]
    print(
        f"surecast send returned (copied, journaled, published) after {time.perf_counter() - started:.1f} s "
        f"at {time.strftime('%H:%M:%S')}",
        flush=True,
    )
    journal = Journal(spool)
    try:
        wait_until(lambda: (r := journal.get(key)) is not None and r.state == State.VERIFIED, 3600, 0.1)
    finally:
        journal.close()


def peer(cmd: list[str], env: dict[str, str]) -> None:
    """Run a peer tool; CalledProcessError carries its output."""
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, check=False)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, cmd, result.stdout + result.stderr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2048, help="MiB")
    parser.add_argument(
        "--workers",
        type=int,
        default=WorkerSection().concurrency,
        help="upload processes of the one surecast worker (default: a user's, SURECAST_WORKER_CONCURRENCY's)",
    )
    parser.add_argument("--no-peers", action="store_true", help="only raw boto3 and surecast")
    parser.add_argument("--peers-venv", type=Path, default=Path.home() / ".cache" / "surecast-bench-peers")
    parser.add_argument("--worker-log", type=Path, help="keep the surecast worker's log here (timestamps per part)")
    args = parser.parse_args()
    if os.geteuid() != 0 or any(shutil.which(t) is None for t in ("ip", "tc", "nft")):
        sys.exit("bench_bigfile needs root and ip, tc, nft")
    peers = None if args.no_peers else peers_venv(args.peers_venv)
    tmp = Path(tempfile.mkdtemp(prefix="surecast-bigfile-"))
    source = tmp / "recording.bin"
    make_file(source, args.size)
    link_down()
    link_up(RATE_MBIT, LOSS_PER_MILLE, burst="256kb")
    relay = worker = None
    # every tool's copy stays: room for five of them (SeaweedFS answers 500 to a part once its volumes are full)
    volumes = max(MAX_VOLUMES, 5 * args.size // VOLUME_SIZE_MB + 20)
    s3 = SeaweedServer(tmp / "seaweedfs", s3_bind=HOST_IP, max_volumes=volumes)
    redis = RedisServer()
    runs: list[Run] = []
    try:
        s3.start()
        bucket = "bigfile"
        s3.create_bucket(bucket)
        relay, endpoint = start_relay(s3.s3_port, DELAY)
        redis.start(free_port(), tmp / "redis", aof=True)
        spool = tmp / "spool"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SURECAST_")},
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "SURECAST_REDIS_URL": redis.url,
            "SURECAST_S3_BUCKET": bucket,
            "SURECAST_S3_ENDPOINT_URL": endpoint,
            "SURECAST_SPOOL_DIR": str(spool),
        }
        runs.append(timed("raw boto3 upload_file", lambda: raw_boto3(endpoint, bucket, source)))
        wlog = tmp / "worker.log"
        worker = spawn([str(BIN / "surecast"), "worker", "-c", str(args.workers), "-l", "INFO"], env, wlog, cwd=tmp)
        wait_until(lambda: " ready." in wlog.read_text(errors="replace"), 60, 0.1, "worker did not start")
        name = f"surecast send, worker -c {args.workers}"
        runs.append(timed(name, lambda: surecast_send(env, spool, source)))
        terminate(worker, 20)
        worker = None
        if args.worker_log:
            shutil.copyfile(wlog, args.worker_log)
        if peers:
            runs.append(
                timed("aws s3 cp", lambda: peer(
                    [str(peers / "aws"), "--endpoint-url", endpoint, "s3", "cp", "--only-show-errors", str(source),
                     f"s3://{bucket}/aws/{source.name}"], env))
            )  # fmt: skip
            runs.append(
                timed("s5cmd", lambda: peer(
                    [str(peers / "s5cmd"), "--endpoint-url", endpoint, "cp", str(source),
                     f"s3://{bucket}/s5cmd/{source.name}"], env))
            )  # fmt: skip
            runs.append(
                timed("rclone", lambda: peer(
                    [str(peers / "rclone"), "copyto", str(source), f":s3:{bucket}/rclone/{source.name}",
                     "--s3-provider", "Other", "--s3-endpoint", endpoint, "--s3-access-key-id", "testing",
                     "--s3-secret-access-key", "testing", "--s3-force-path-style", "--config", "/dev/null"],
                    env))
            )  # fmt: skip
    finally:
        if worker:
            terminate(worker, 20)
        if relay:
            relay.kill()
        redis.stop()
        s3.stop()
        link_down()
        shutil.rmtree(tmp, ignore_errors=True)
    report(runs, args.size)


def report(runs: list[Run], size_mib: int) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}; one file of {size_mib} MiB; "
        f"tbf {RATE_MBIT} Mbit/s, +{DELAY * 1000:.0f} ms each way (relay), {LOSS_PER_MILLE / 10:g} % loss; "
        f"SeaweedFS; {os.cpu_count()} cores"
    )
    others = [r.seconds for r in runs if not r.name.startswith("surecast") and not r.error]
    best_other = min(others, default=float("nan"))
    print("| tool | wall s | Mbit/s | x best other's throughput | load before / after |")
    print("|---|---|---|---|---|")
    for r in runs:
        if r.error:
            print(f"| {r.name} | failed | | | {r.load_before:.2f} / {r.load_after:.2f} |")
            continue
        mbit = size_mib * MIB * 8 / r.seconds / 1e6
        print(
            f"| {r.name} | {r.seconds:.1f} | {mbit:.0f} | {best_other / r.seconds:.2f} | "
            f"{r.load_before:.2f} / {r.load_after:.2f} |"
        )


if __name__ == "__main__":
    main()
