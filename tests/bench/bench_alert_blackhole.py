"""An alert target that never answers (a loopback listener that accepts and stays silent) against delivery.

1. Alerts: messages written to the outbox one every 0.25 s, sent by the sender's threads to a webhook receiver
   on loopback, alone and beside the black hole: the time from the write to the webhook, and what the writer
   (the console's sampler) pays per message.
2. Segments: a real stack (SeaweedFS on loopback, a worker, a real encoder) with `surecast console` running,
   once without alerts and once with SURECAST_ALERTS pointing at the black hole and messages waiting for it
   (so a sender thread is stuck in a send the whole time): each segment's time from the journal's record to
   verified in the bucket.

    python -m tests.bench.bench_alert_blackhole [--seconds 60] [--messages 20]

Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from alerts.sender import AlertSender
from alerts.targets import alert_targets
from journal.alerts import AlertMessage, AlertOutbox
from journal.files import Journal
from tests.integration.test_encoder_live import start_encoder
from tests.support.procs import free_port, spawn, terminate, wait_until
from tests.support.seaweed import SeaweedServer
from tests.support.stack import BIN, running_stack
from tests.support.webhook import BlackHole, WebhookReceiver


def message(n: int) -> AlertMessage:
    return AlertMessage(f"bench:{n}", "raised", "BENCH", time.time(), f"bench {n}", f"message {n}", "info")


def figures(values: list[float]) -> str:
    if not values:
        return "no values"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered):.4f} s, p95 {p95:.4f} s, max {ordered[-1]:.4f} s (n={len(ordered)})"


def alerts_run(messages: int, with_black_hole: bool) -> tuple[list[float], list[float]]:
    """Write-to-webhook times and the writer's cost per message."""
    with (
        tempfile.TemporaryDirectory(prefix="surecast-bench-alerts-") as tmp,
        WebhookReceiver() as hook,
        BlackHole() as hole,
    ):
        urls = [SecretStr(hook.url("good"))] + ([SecretStr(hole.url())] if with_black_hole else [])
        targets = alert_targets(urls)
        sender = AlertSender(Path(tmp), targets)
        outbox = AlertOutbox(Path(tmp))
        sender.start()
        written: dict[str, float] = {}
        costs = []
        try:
            for n in range(messages):
                began = time.perf_counter()
                written[f"bench {n}"] = time.time()
                outbox.add(message(n), [t.id for t in targets])
                sender.wake()
                costs.append(time.perf_counter() - began)
                time.sleep(0.25)
            wait_until(lambda: len(hook.messages("good")) >= messages, 120, message="webhook did not get them all")
        finally:
            sender.stop()
            outbox.close()
        return [m.at - written[m.title] for m in hook.messages("good")], costs
    # the black hole's sends are still hanging in daemon threads: they end with their read timeout


def delivery_run(seconds: float, black_hole: bool) -> tuple[list[float], int]:
    """Each media segment's seconds from the journal's record to verified, with the console running, and how
    many sends the black hole held."""
    with tempfile.TemporaryDirectory(prefix="surecast-bench-delivery-") as tmp, BlackHole() as hole:
        server = SeaweedServer(Path(tmp) / "seaweedfs")
        server.start()
        try:
            with running_stack(Path(tmp) / "stack", server) as stack:
                env = {**stack.env, "SURECAST_CONSOLE_PORT": str(free_port()), "SURECAST_ALERTS_AFTER": "0"}
                if black_hole:
                    env["SURECAST_ALERTS"] = hole.url()
                    [target] = alert_targets([SecretStr(hole.url())])
                    outbox = AlertOutbox(stack.spool)
                    for n in range(5):  # waiting for the target: its sender thread is in a send from the start
                        outbox.add(message(n), [target.id])
                    outbox.close()
                stack.start_worker(concurrency=2)
                console = spawn([str(BIN / "surecast"), "console"], env, stack.tmp / "console.log")
                encoder = start_encoder(stack, seconds)
                try:
                    encoder.proc.wait(seconds + 120)
                finally:
                    terminate(console)
                    terminate(encoder.proc)
                journal = Journal(stack.spool)
                try:
                    rows = journal._db.execute(  # a bench may read the journal's table directly
                        "SELECT verified_at - created_at FROM files WHERE state = 'verified' AND key LIKE '%.ts'"
                    ).fetchall()
                finally:
                    journal.close()
                return [float(r[0]) for r in rows], hole.connections
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="encoding time per delivery run")
    parser.add_argument("--messages", type=int, default=20, help="alert messages per alerts run")
    args = parser.parse_args()

    alone, alone_cost = alerts_run(args.messages, with_black_hole=False)
    beside, beside_cost = alerts_run(args.messages, with_black_hole=True)
    print("1. alerts to a webhook on loopback, one message every 0.25 s")
    print(f"   webhook alone:             write to webhook {figures(alone)}")
    print(f"   beside a black hole:       write to webhook {figures(beside)}")
    print(f"   writer's cost per message: alone {figures(alone_cost)}; beside {figures(beside_cost)}")
    print(f"   ratio of medians (beside / alone): {statistics.median(beside) / statistics.median(alone):.2f}")

    quiet, _ = delivery_run(args.seconds, black_hole=False)
    stuck, held = delivery_run(args.seconds, black_hole=True)
    print(f"2. segments recorded to verified, {args.seconds:.0f} s of encoding, console running")
    print(f"   no alerts:                 {figures(quiet)}")
    print(f"   black-hole alert target:   {figures(stuck)} ({held} sends held unanswered by it)")
    print(f"   ratio of medians (black hole / none): {statistics.median(stuck) / statistics.median(quiet):.2f}")
    for label, alone_v, beside_v in (("alerts p50", alone, beside), ("segments p50", quiet, stuck)):
        print(f"FIGURE blackhole: {label} without {statistics.median(alone_v) * 1000:.1f} ms, "
              f"with a target that never answers {statistics.median(beside_v) * 1000:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
