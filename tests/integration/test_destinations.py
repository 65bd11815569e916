"""Redundant destinations, for real: two SeaweedFS servers, real workers, the real encoder, a real viewer.

The primary is the stack's server (behind the venue's fault proxy); the backup ``b2`` is a second
SeaweedFS server with its own bucket and prefix. Viewers read both buckets directly. One of them is
stopped for a minute, or given wrong credentials, mid-event: the other's live lag does not change, a
viewer on the master never stalls (30 s buffer), and the one that failed catches up and archives the
whole event by itself.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.contract import PRIMARY
from encoder.ffmpegproc import find_ffmpeg
from tests.integration.test_encoder_live import ENCODER_ENV, EVENT, playlist_entries, start_encoder
from tests.support.destinations import BACKUP, BACKUP_PREFIX, Backup, backup_destination
from tests.support.procs import free_port, log_tail, spawn, terminate, wait_until
from tests.support.stack import BIN, Stack

OUTAGE = 60.0
EVENT_SECONDS = 110
CLIENT_ENV = {
    "SURECAST_CLIENT_CONNECT_TIMEOUT": "1",
    "SURECAST_CLIENT_READ_TIMEOUT": "2",
    "SURECAST_CLIENT_BACKOFF_BASE": "0.2",
    "SURECAST_CLIENT_BACKOFF_CAP": "1",
}


@pytest.fixture
def backup(stack: Stack, tmp_path: Path) -> Iterator[Backup]:
    stack.env.update({**ENCODER_ENV, "SURECAST_ENCODER_FINAL_WAIT": "300"})
    with backup_destination(stack, tmp_path) as found:
        yield found


class _Console:
    """`surecast console` on a free port, read through its JSON endpoint."""

    def __init__(self, stack: Stack) -> None:
        self.port = free_port()
        env = {**stack.env, "SURECAST_CONSOLE_USER": "av", "SURECAST_CONSOLE_PASSWORD": "pw"}
        env["SURECAST_CONSOLE_PORT"] = str(self.port)
        self.log = stack.tmp / "console.log"
        self.proc = spawn([str(BIN / "surecast"), "console"], env, self.log, cwd=stack.tmp)
        self.big_states: set[str] = set()

    def words(self) -> dict[str, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/status")
        request.add_header("Authorization", "Basic " + base64.b64encode(b"av:pw").decode())
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status = json.loads(response.read())
        except OSError:
            return {}
        self.big_states.add(status["state"]["label"])
        return {d["name"]: d["state"] for d in status.get("destination_lines") or []}

    def stop(self) -> None:
        terminate(self.proc)


def _lags(stack: Stack, destination: str) -> list[tuple[float, float]]:
    """(journaled at, seconds until verified) of each verified segment of ``destination``."""
    journal = stack.journal(destination)
    try:
        rows = journal._db.execute(
            "SELECT created_at, verified_at FROM files WHERE kind = 'segment' AND state = 'verified'"
        ).fetchall()
    finally:
        journal.close()
    return sorted((float(r[0]), float(r[1]) - float(r[0])) for r in rows)


def _between(lags: list[tuple[float, float]], start: float, stop: float) -> list[float]:
    return [lag for at, lag in lags if start <= at < stop]


def _segments(stack: Stack, destination: str) -> dict[str, str]:
    journal = stack.journal(destination)
    try:
        rows = journal._db.execute("SELECT key, md5 FROM files WHERE kind = 'segment'").fetchall()
    finally:
        journal.close()
    return {r["key"]: r["md5"] for r in rows}


def _assert_archive_complete(stack: Stack, backup: Backup) -> int:
    """Both destinations hold every segment as journaled, and each VOD lists every one of them."""
    count = 0
    for destination, prefix, etag, text in (
        (PRIMARY, "live", stack.stored_etag, None),
        (BACKUP, BACKUP_PREFIX, backup.etag, backup.text),
    ):
        segments = _segments(stack, destination)
        assert segments, f"nothing journaled for {destination}"
        wrong = [k for k, md5 in segments.items() if etag(k) != md5]
        assert not wrong, f"{destination}: {len(wrong)} segment(s) missing or different, e.g. {wrong[:3]}"
        key = f"{prefix}/{EVENT}/180p/vod.m3u8"
        vod = text(key) if text else stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read().decode()
        assert vod and vod.rstrip().endswith("#EXT-X-ENDLIST"), f"{destination}: no complete VOD"
        listed = sorted(f"{prefix}/{EVENT}/180p/{uri}" for uri, _, _ in playlist_entries(vod))
        assert listed == sorted(k for k in segments if "/180p/" in k), destination
        count = len(listed)
    return count


def _start_viewer(stack: Stack, url: str, name: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    log, report = stack.tmp / f"{name}.log", stack.tmp / f"{name}.json"
    env = {**stack.env, **CLIENT_ENV}
    cmd = [str(BIN / "surecast"), "play", url, "--check", "--buffer", "30", "--start", "edge", "--json", str(report)]
    return spawn(cmd, env, log, cwd=stack.tmp), log, report


def _wait_viewer(proc: subprocess.Popen[bytes], log: Path, report: Path, timeout: float) -> dict[str, Any]:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        terminate(proc)
        raise AssertionError(f"the viewer did not finish:\n{log_tail(log)}") from None
    assert report.exists(), log_tail(log)
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def _summary(lags: list[float]) -> str:
    if not lags:
        return "none"
    return f"median {statistics.median(lags):.2f} s, max {max(lags):.2f} s over {len(lags)}"


@pytest.mark.timeout(420)
def test_a_destination_stopped_for_a_minute_costs_the_other_nothing_and_catches_up(
    stack: Stack, backup: Backup
) -> None:
    assert find_ffmpeg("")
    stack.start_worker(concurrency=2)  # one worker per destination
    encoder = start_encoder(stack, EVENT_SECONDS)
    master = f"{backup.server.endpoint_url}/{backup.bucket}/{BACKUP_PREFIX}/{EVENT}/master.m3u8"
    wait_until(lambda: backup.etag(f"{BACKUP_PREFIX}/{EVENT}/master.m3u8"), 40, 0.5, "no master on the backup")
    viewer = _start_viewer(stack, master, "viewer")
    console = _Console(stack)
    time.sleep(20)
    stopped = time.time()
    backup.server.stop()
    words_down = wait_until(lambda: console.words().get(BACKUP) == "DOWN" and console.words(), 30, 1, "no DOWN")
    time.sleep(max(0.0, OUTAGE - (time.time() - stopped)))
    backup.server.start()
    restarted = time.time()
    words_back = wait_until(lambda: console.words().get(BACKUP) == "LIVE" and console.words(), 60, 1, "not LIVE")
    console.stop()
    assert words_down[PRIMARY] == "LIVE" and console.big_states <= {"LIVE", "STARTING"}, (words_down, console)
    print(f"console: {words_down} during the outage, {words_back} after; big states {sorted(console.big_states)}")
    assert encoder.wait(EVENT_SECONDS + 240) == 0, encoder.output()[-3000:]
    report = _wait_viewer(*viewer, timeout=120)

    # The primary's live lag did not move while the backup was down.
    lags = _lags(stack, PRIMARY)
    before, during = _between(lags, 0, stopped), _between(lags, stopped + 5, restarted)
    print(f"primary lag before the outage: {_summary(before)}; during it: {_summary(during)}")
    assert before and during
    assert max(during) <= max(before) + 2.0, "the primary waited for the backup"
    # The backup caught up by itself: every segment, and the whole archive on both.
    segments = _assert_archive_complete(stack, backup)
    backup_lags = _lags(stack, BACKUP)
    print(f"backup: {segments} segments archived; lag of those made during the outage: "
          f"{_summary(_between(backup_lags, stopped + 5, restarted))}")  # fmt: skip
    # The viewer read the backup's master, turned to the primary, came back, and never stalled.
    assert report["stalls"] == [] and report["gaps"] == [], report
    assert report["lost"] is False and report["ended"] is True, report
    assert report["segments_verified"] == report["segments_played"] > 0, report
    moves = [(f["from"], f["to"]) for f in report["failovers"]]
    assert moves[:1] == [(BACKUP, PRIMARY)] and (PRIMARY, BACKUP) in moves, report["failovers"]
    figures = {d["name"]: d for d in report["destinations"]}
    assert figures[PRIMARY]["segments"] > 0 and figures[BACKUP]["segments"] > 0, figures
    print(f"viewer: {report['segments_played']} segments, no stall; failovers {report['failovers']}")


@pytest.mark.timeout(420)
def test_wrong_credentials_on_one_destination_never_touch_the_other_and_heal_when_fixed(
    stack: Stack, backup: Backup
) -> None:
    good = json.loads(stack.env["SURECAST_BACKUPS"])
    wrong = [{**good[0], "secret_access_key": "not-the-secret"}]
    stack.start_worker(concurrency=2, destination=PRIMARY)
    broken = stack.start_worker(concurrency=2, destination=BACKUP, extra_env={"SURECAST_BACKUPS": json.dumps(wrong)})
    encoder = start_encoder(stack, 60)
    viewer = _start_viewer(stack, f"{stack.s3_server.endpoint_url}/{stack.bucket}/live/{EVENT}/master.m3u8", "viewer")
    began = time.time()
    time.sleep(30)
    assert stack.worker_log(1).count("SignatureDoesNotMatch") > 0, stack.worker_log(1)[-3000:]
    assert not backup.etag(f"{BACKUP_PREFIX}/{EVENT}/master.m3u8")
    terminate(broken)
    fixed = time.time()
    stack.start_worker(concurrency=2, destination=BACKUP)  # the operator fixed .env; the worker restarted
    assert encoder.wait(300) == 0, encoder.output()[-3000:]
    report = _wait_viewer(*viewer, timeout=120)

    lags = _lags(stack, PRIMARY)
    while_wrong = _between(lags, began, fixed)
    print(f"primary lag while the backup's credentials were wrong: {_summary(while_wrong)}")
    assert while_wrong and max(while_wrong) <= 3.0, "the primary was held up by the backup's failures"
    segments = _assert_archive_complete(stack, backup)
    print(f"backup healed: {segments} segments archived after the fix")
    assert report["stalls"] == [] and report["gaps"] == [] and report["lost"] is False, report
    assert report["failovers"] == [], "a viewer on the primary had no reason to move"
