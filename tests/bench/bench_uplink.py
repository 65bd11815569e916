"""Uplink benchmark (root): the live edge and the catch-up on an emulated venue uplink. Prints; asserts nothing.

Run:  sudo .venv/bin/python -m tests.bench.bench_uplink [--policies complete,live-edge]

    encoder, workers, Redis (this machine)
        ──> 10.77.0.2  [veth: tbf 8 Mbit/s toward the namespace; nft drops 1 % of the packets entering it]
        ──> a delay relay in the namespace (tests/support/delayline.py: +50 ms each way)
        ──> SeaweedFS's S3 gateway on 10.77.0.1 (the machine's end of the veth)

The outage is every packet into the namespace dropped by nft for 60 s (the link stays up, so no traffic can
take another route). For each policy: one rendition 1280x720 at 2 Mbit/s, 2 s segments, one `surecast worker
-c 4`, an event of ~40 s, the outage, then the rest; the live playlist is read straight from SeaweedFS every
50 ms (not through the link). Printed:
- live lag (segment file complete -> listed in the remote live playlist), p50 / p95, before the outage,
  against a raw PUT of each segment plus a raw PUT of the playlist plus one round trip, measured after the
  event on the same link with plain boto3;
- catch-up: from the link's return to the last backlog segment verified, against the physical minimum
  (backlog bytes / (link rate - stream rate));
- the live edge first: when the first segment recorded after the link returned was listed, against when
  the backlog was done.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from encoder.keys import PLAYLISTS_DIR, SLATES_DIR
from journal.events import EventStore
from journal.files import Journal
from tests.soak.observe import playlist_uris
from tests.support.procs import RedisServer, free_port, log_tail, spawn, terminate, wait_until
from tests.support.seaweed import SeaweedServer
from tests.support.stack import BIN

NS = "scbench"  # one at a time; a run removes what an interrupted one left
HOST_IF, NS_IF = f"{NS}h", f"{NS}n"
HOST_IP, NS_IP = "10.77.0.1", "10.77.0.2"
RATE_MBIT, DELAY, LOSS_PERCENT = 8, 0.05, 1
LADDER, STREAM_KBIT = "1280x720@2000k", 2000
BEFORE, OUTAGE, AFTER = 40.0, 60.0, 90.0
POLL = 0.05
TABLE = "surecast_bench"


def sh(*cmd: str, ns: bool = False, stdin: str | None = None) -> None:
    argv = ["ip", "netns", "exec", NS, *cmd] if ns else list(cmd)
    subprocess.run(argv, check=True, input=stdin, text=True, timeout=30)


def link_up(rate_mbit: int = RATE_MBIT, loss_per_mille: int = LOSS_PERCENT * 10, burst: str = "16kb") -> None:
    """The namespace, the veth pair, the rate limit and the random loss."""
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF)
    sh("ip", "link", "set", NS_IF, "netns", NS)
    sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", HOST_IF)
    sh("ip", "link", "set", HOST_IF, "up")
    sh("ip", "addr", "add", f"{NS_IP}/30", "dev", NS_IF, ns=True)
    sh("ip", "link", "set", NS_IF, "up", ns=True)
    sh("ip", "link", "set", "lo", "up", ns=True)
    sh("tc", "qdisc", "add", "dev", HOST_IF, "root", "tbf", "rate", f"{rate_mbit}mbit", "burst", burst,
       "latency", "100ms")  # fmt: skip
    rules = (
        f"table inet {TABLE} {{\n  chain input {{\n    type filter hook input priority 0;\n"
        f'    iifname "{NS_IF}" numgen random mod 1000 < {loss_per_mille} drop\n  }}\n}}\n'
    )
    sh("nft", "-f", "-", ns=True, stdin=rules)


def outage(on: bool) -> None:
    if on:
        chain = f'  chain input {{\n    type filter hook input priority -1;\n    iifname "{NS_IF}" drop\n  }}\n'
        rules = f"table inet {TABLE}_cut {{\n{chain}}}\n"
        sh("nft", "-f", "-", ns=True, stdin=rules)
    else:
        sh("nft", "delete", "table", "inet", f"{TABLE}_cut", ns=True)


def link_down() -> None:
    subprocess.run(["ip", "netns", "del", NS], check=False, timeout=30, stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "link", "del", HOST_IF], check=False, timeout=30, stderr=subprocess.DEVNULL)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Watch:
    """Reads one live playlist straight from SeaweedFS and notes when each segment is first listed."""

    client: Any
    bucket: str
    key: str
    first_listed: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(POLL):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"].read().decode()
            except Exception:  # noqa: BLE001 - not there yet
                continue
            seen = time.time()
            for uri in (u for u, gap in playlist_uris(body) if not gap):
                self.first_listed.setdefault(uri, seen)


def raw_client(endpoint: str, **config: Any) -> Any:
    """Plain boto3 against the benchmark's server (path-style, its test keys), ``config`` added to its Config."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, **config),
    )


def raw_figures(endpoint: str, bucket: str, segments: list[Path], playlist: bytes) -> tuple[float, float, float]:
    """p95 of a plain PUT of each segment and of the playlist, and one round trip (the quickest HEAD)."""
    s3 = raw_client(endpoint, retries={"max_attempts": 10, "mode": "standard"})
    s3.put_object(Bucket=bucket, Key="raw/probe", Body=b"x")
    heads = []
    for _ in range(10):
        started = time.perf_counter()
        s3.head_object(Bucket=bucket, Key="raw/probe")
        heads.append(time.perf_counter() - started)
    seg, pl = [], []
    for i, path in enumerate(segments):
        body = path.read_bytes()
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=f"raw/{i}.ts", Body=body, ContentMD5=_b64md5(body))
        seg.append(time.perf_counter() - started)
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=f"raw/{i}.m3u8", Body=playlist, ContentMD5=_b64md5(playlist))
        pl.append(time.perf_counter() - started)
    return percentile(seg, 0.95), percentile(pl, 0.95), min(heads)


def _b64md5(body: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.md5(body).digest()).decode()


def run_policy(policy: str, env: dict[str, str], tmp: Path, s3: SeaweedServer, bucket: str) -> dict[str, Any]:
    event = f"uplink-{policy}"
    spool = Path(env["SURECAST_SPOOL_DIR"])
    wlog = tmp / f"worker-{policy}.log"
    worker = spawn([str(BIN / "surecast"), "worker", "-c", "4", "-n", f"{policy}@bench"], env, wlog, cwd=tmp)
    encoder = None
    watch = None
    try:
        wait_until(lambda: " ready." in wlog.read_text(errors="replace"), 60, 0.1, "worker did not start")
        encoder_env = {**env, "SURECAST_ENCODER_POLICY": policy}
        cmd = [str(BIN / "surecast"), "encode", "--duration", str(BEFORE + OUTAGE + AFTER), "--event-id", event]
        elog = tmp / f"encoder-{policy}.log"
        encoder = spawn(cmd, encoder_env, elog, cwd=tmp)
        folder = spool / "events" / event
        rendition = wait_until(lambda: next((p.name for p in folder.glob("*") if _is_rendition(p)), None), 60, 0.2)
        watch = Watch(s3.client(), bucket, f"live/{event}/{rendition}/live.m3u8")
        threading.Thread(target=watch.run, daemon=True).start()
        started = time.time()
        time.sleep(BEFORE)
        outage(True)
        cut_at = time.time()
        time.sleep(OUTAGE)
        journal = Journal(spool)
        outage(False)
        back_at = time.time()
        waiting = [
            r for r in _segment_rows(journal, event, rendition) if r.verified_at is None or r.verified_at > back_at
        ]
        if encoder.wait(BEFORE + OUTAGE + AFTER + 700) != 0:
            raise RuntimeError(f"encoder exited with {encoder.returncode}:\n{log_tail(elog)}")
        time.sleep(2)
    finally:
        if watch:
            watch.stop.set()
        if encoder and encoder.poll() is None:
            terminate(encoder)
        terminate(worker, 20)
    rows = _segment_rows(journal, event, rendition)
    seg_dir = folder / rendition
    complete = {r.name: (seg_dir / r.name).stat().st_mtime for r in rows}
    before = [
        watch.first_listed[r.name] - complete[r.name]
        for r in rows
        if started + 8 <= complete[r.name] < cut_at - 4 and r.name in watch.first_listed
    ]
    waited = {r.name for r in waiting if complete[r.name] < back_at}  # not verified when the link came back
    backlog = [r for r in rows if r.name in waited]
    backlog_bytes = sum(r.size for r in backlog)
    drained = max((r.verified_at or time.time()) for r in backlog) - back_at if backlog else 0.0
    fresh = sorted((r for r in rows if complete[r.name] >= back_at), key=lambda r: complete[r.name])
    first_fresh_listed = next(
        (watch.first_listed[r.name] - back_at for r in fresh if r.name in watch.first_listed), None
    )
    duration = sum(r.size for r in rows) * 8 / max(1.0, complete[rows[-1].name] - complete[rows[0].name])
    playlist = watch.client.get_object(Bucket=bucket, Key=watch.key)["Body"].read()  # as it ended
    sample = [seg_dir / r.name for r in rows[5:25]]
    journal.close()
    return {
        "policy": policy,
        "before": before,
        "backlog": len(backlog),
        "backlog_bytes": backlog_bytes,
        "drained": drained,
        "first_fresh_listed": first_fresh_listed,
        "stream_bps": duration,
        "sample": sample,
        "playlist": playlist,
        "segments": len(rows),
    }


@dataclass(frozen=True)
class Seg:
    name: str
    size: int
    verified_at: float | None


def _segment_rows(journal: Journal, event: str, rendition: str) -> list[Seg]:
    """The event's segments in order, with what the journal says of each."""
    out = []
    for segment in EventStore(journal).load(event, rendition):
        row = journal.get(segment.key)
        if row is not None:
            out.append(Seg(segment.name, row.size, row.verified_at))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policies", default="complete,live-edge")
    args = parser.parse_args()
    missing = [tool for tool in ("ip", "tc", "nft") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        sys.exit(f"bench_uplink needs root and ip, tc, nft (missing: {missing or 'root'})")
    tmp = Path(tempfile.mkdtemp(prefix="surecast-uplink-"))
    link_down()
    link_up()
    relay = None
    s3 = SeaweedServer(tmp / "seaweedfs", s3_bind=HOST_IP)
    redis = RedisServer()
    try:
        s3.start()
        bucket = "uplink"
        s3.create_bucket(bucket)
        relay, endpoint = start_relay(s3.s3_port)
        redis.start(free_port(), tmp / "redis", aof=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SURECAST_")},
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "SURECAST_REDIS_URL": redis.url,
            "SURECAST_S3_BUCKET": bucket,
            "SURECAST_S3_ENDPOINT_URL": endpoint,
            "SURECAST_SPOOL_DIR": str(tmp / "spool"),
            "SURECAST_ENCODER_RENDITIONS": LADDER,
            "SURECAST_ENCODER_PRESET": "ultrafast",
            "SURECAST_ENCODER_FRAMERATE": "25",
            "SURECAST_ENCODER_SEGMENT_SECONDS": "2",
            "SURECAST_ENCODER_FINAL_WAIT": "600",
        }
        results = [run_policy(p, env, tmp, s3, bucket) for p in args.policies.split(",")]
        seg95, pl95, rtt = raw_figures(endpoint, bucket, results[0]["sample"], results[0]["playlist"])
    finally:
        if relay:
            relay.kill()
        redis.stop()
        s3.stop()
        link_down()
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, seg95, pl95, rtt)


def report(results: list[dict[str, Any]], seg95: float, pl95: float, rtt: float) -> None:
    print(
        f"uplink: tbf {RATE_MBIT} Mbit/s, +{DELAY * 1000:.0f} ms each way (relay), {LOSS_PERCENT} % of packets "
        f"dropped; SeaweedFS; {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    print(f"raw boto3 on the same link: segment PUT p95 {seg95 * 1000:.0f} ms, playlist PUT p95 {pl95 * 1000:.0f} ms,")
    bound = seg95 + pl95 + rtt
    print(f"  one round trip {rtt * 1000:.0f} ms: live-lag bound {bound * 1000:.0f} ms")
    for r in results:
        lag50, lag95 = percentile(r["before"], 0.5), percentile(r["before"], 0.95)
        spare = RATE_MBIT * 1e6 - r["stream_bps"]
        minimum = r["backlog_bytes"] * 8 / spare if spare > 0 else float("inf")
        print(f"policy {r['policy']}: {r['segments']} segments, stream {r['stream_bps'] / 1e6:.2f} Mbit/s")
        print(
            f"  live lag before the outage, n={len(r['before'])}: p50 {lag50 * 1000:.0f} ms, p95 {lag95 * 1000:.0f} ms"
            f" ({lag95 / bound:.2f}x the bound; target <= 1)"
        )
        print(
            f"  catch-up after {OUTAGE:.0f} s: {r['backlog']} segments, {r['backlog_bytes'] / 1e6:.1f} MB in "
            f"{r['drained']:.1f} s; physical minimum {minimum:.1f} s ({r['drained'] / minimum:.2f}x; target <= 1.15)"
        )
        fresh = r["first_fresh_listed"]
        print(
            "  first segment recorded after the return listed "
            + (f"{fresh:.1f} s after it" if fresh is not None else "never")
            + f"; backlog done {r['drained']:.1f} s after it"
        )


def start_relay(s3_port: int, delay: float = DELAY) -> tuple[subprocess.Popen[bytes], str]:
    """The delay relay (``delay`` seconds each way) in the namespace, in front of the S3 gateway on
    ``s3_port``: the relay's process and the endpoint to give the uploader (an address in the namespace)."""
    port = free_port()
    relay = subprocess.Popen(
        ["ip", "netns", "exec", NS, sys.executable, "-m", "tests.support.delayline",
         "--listen", f"{NS_IP}:{port}", "--to", f"{HOST_IP}:{s3_port}", "--delay", str(delay)],
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    wait_until(lambda: _connects(NS_IP, port), 20, 0.2, "the relay in the namespace did not start")
    return relay, f"http://{NS_IP}:{port}"


def _is_rendition(path: Path) -> bool:
    """A rendition's folder in an event's spool folder (the slates and playlists have folders of their own)."""
    return path.is_dir() and path.name not in (SLATES_DIR, PLAYLISTS_DIR)


def _connects(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


if __name__ == "__main__":
    main()
