"""`surecast up`: the whole stack without Docker, started and stopped by one command."""

from __future__ import annotations

import signal
import subprocess

import psutil

from journal.files import State
from surecast.up import plan_children
from tests.support.procs import free_port, log_tail, wait_until
from tests.support.stack import BIN, Stack


def test_children_are_planned_in_start_order() -> None:
    names = [c.name for c in plan_children(3, ["--duration", "5"], flower=True, metrics=True)]
    assert names == ["worker", "encoder", "flower", "metrics"]
    assert [c.name for c in plan_children(1, None, flower=False, metrics=False)] == ["worker"]
    worker, encoder = plan_children(2, ["--duration", "5"], flower=False, metrics=False)
    assert worker.argv[-2:] == ["-c", "2"] and encoder.argv[-2:] == ["--duration", "5"]
    assert encoder.stop_signal == signal.SIGINT  # ends the event cleanly, like Ctrl-C


def test_up_runs_an_event_end_to_end_with_embedded_redis_and_stops_everything(stack: Stack) -> None:
    stack.redis.stop()  # `up` must start its own
    port = free_port()
    env = {
        **stack.env,
        "SURECAST_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "SURECAST_METRICS_PORT": str(free_port()),
    }
    log = stack.tmp / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(
            [
                str(BIN / "surecast"),
                "up",
                "--workers",
                "2",
                "--no-flower",
                "--",
                "--duration",
                "6",
                "--event-id",
                "upt",
            ],
            env=env,
            cwd=stack.tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        journal = stack.journal()

        def event_delivered() -> bool:
            listed = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="live/upt/").get("Contents", [])
            vod = any(o["Key"].endswith("/vod.m3u8") for o in listed)
            return vod and journal.totals().waiting_files == 0

        try:
            wait_until(event_delivered, 90, interval=0.5, message="event not delivered")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log_tail(log)}") from None
        listed = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="live/upt/")["Contents"]
        assert sum("/seg_" in o["Key"] for o in listed) >= 2
        children = psutil.Process(up.pid).children(recursive=True)
        assert any(
            "valkey-server" in " ".join(c.cmdline()) or "redis-server" in " ".join(c.cmdline()) for c in children
        )
        up.send_signal(signal.SIGINT)
        assert up.wait(90) == 0, log_tail(log)
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
        assert (stack.spool / "redis" / "appendonlydir").exists()
        assert journal.totals().files[State.FAILED] == 0
    finally:
        if up.poll() is None:
            up.kill()
