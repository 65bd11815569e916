"""Worker memory through a long outage: RSS of every worker process at the start, middle and end.

A backlog of 300 files is queued while the link to S3 (SeaweedFS on loopback, behind the test proxy)
refuses every connection for ``--minutes`` (default 10); two `surecast worker -c 2` keep retrying. Then the
link comes back and the backlog drains. Prints figures; asserts nothing.

    python -m tests.bench.bench_outage_rss [--minutes 10] [--files 300]

Targets (the on-time issue): at most 150 MB per process, less than 10 % growth from start to end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psutil

from journal.files import Journal
from tests.support.procs import wait_until, worker_child_role
from tests.support.seaweed import SeaweedServer
from tests.support.stack import Stack, running_stack

MB = 1_000_000


def worker_processes(stack: Stack) -> dict[str, psutil.Process]:
    """Every process of every worker: main, pool children, reconciler, resource tracker, named for the report."""
    found: dict[str, psutil.Process] = {}
    for n, proc in enumerate(stack.workers):
        main = psutil.Process(proc.pid)
        found[f"w{n} main"] = main
        for child in main.children(recursive=True):
            role = worker_child_role(child.cmdline())
            found[f"w{n} {role} {child.pid}"] = child
    return found


def rss(processes: dict[str, psutil.Process]) -> dict[str, float]:
    figures = {}
    for name, proc in processes.items():
        try:
            figures[name] = proc.memory_info().rss / MB
        except psutil.NoSuchProcess:
            figures[name] = float("nan")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()
    outage = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="surecast-rss-") as tmp:
        server = SeaweedServer(Path(tmp) / "seaweedfs")
        server.start()
        try:
            with running_stack(Path(tmp) / "stack", server) as stack:
                stack.env.update({"SURECAST_UPLOAD_BACKOFF_BASE": "0.5", "SURECAST_UPLOAD_BACKOFF_CAP": "30"})
                stack.start_worker(concurrency=2)
                stack.start_worker(concurrency=2)
                stack.proxy.set_mode("refuse")
                files = [stack.spool_file(f"r{i}.bin", 200_000, seed=i) for i in range(args.files)]
                sent = stack.run_cli("send", *map(str, files), timeout=300)
                assert sent.returncode == 0, sent.stderr
                began = time.monotonic()
                time.sleep(min(30.0, outage / 4))  # every file has failed a few times: the steady state
                processes = worker_processes(stack)
                samples = [("start", time.monotonic() - began, rss(processes))]
                time.sleep(max(0.0, outage / 2 - (time.monotonic() - began)))
                samples.append(("middle", time.monotonic() - began, rss(processes)))
                time.sleep(max(0.0, outage - (time.monotonic() - began)))
                samples.append(("end", time.monotonic() - began, rss(processes)))
                journal = Journal(stack.spool)
                retries = journal.totals().retries
                stack.proxy.set_mode("pass")
                healed = time.monotonic()
                wait_until(lambda: journal.totals().waiting_files == 0, 600, interval=1, message="backlog not drained")
                drained = time.monotonic() - healed
        finally:
            server.stop()
    print(f"outage {outage:.0f} s, backlog {args.files} files x 200 kB, 2 workers x 2 processes, SeaweedFS on loopback")
    names = list(samples[0][2])
    print(f"{'process':<24}" + "".join(f"{label} ({at:.0f} s)".rjust(18) for label, at, _ in samples) + "  growth")
    for name in names:
        values = [s[2][name] for s in samples]
        growth = (values[-1] - values[0]) / values[0] * 100 if values[0] else float("nan")
        print(f"{name:<24}" + "".join(f"{v:>15.1f} MB" for v in values) + f"  {growth:+.1f} %")
    worst = max(max(s[2].values()) for s in samples)
    print(f"largest process: {worst:.1f} MB (target <= 150 MB); retries during the outage: {retries}")
    print(f"backlog drained {drained:.1f} s after the link came back")


if __name__ == "__main__":
    main()
