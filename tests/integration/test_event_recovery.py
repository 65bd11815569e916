"""An event survives its workers, its whole PC and its disk: real encoder, FFmpeg, workers, Redis, SeaweedFS.

- every worker SIGKILLed mid-event and replaced: the live playlist moves again within 15 s, and the VOD
  is published by itself even though the encoder gave up waiting (and so is the channel's state for
  viewers, with its replay);
- a power cut (encoder, FFmpeg, workers and Redis SIGKILLed together) and a restart without an event id:
  one event, one URL (the channel's), one discontinuity, the VOD complete;
- a full disk (the spool on a small tmpfs, root only): recording pauses, resumes by itself, everything
  recorded is delivered and the VOD shows the pause as a discontinuity.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.integration.test_encoder_live import ENCODER_ENV, get_text, playlist_entries
from tests.support.procs import kill, log_tail, spawn, wait_until
from tests.support.stack import BIN, Stack

CHANNEL = "main"


def encode(stack: Stack, name: str, duration: float, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`surecast encode` with no event id, as compose starts it."""
    cmd = [str(BIN / "surecast"), "encode", "--duration", str(duration)]
    return spawn(cmd, {**stack.env, **ENCODER_ENV, **(env or {})}, stack.tmp / f"{name}.log", cwd=stack.tmp)


def current_event(stack: Stack) -> str | None:
    from journal.events import EventStore

    row = EventStore(stack.journal()).current(CHANNEL)
    return row.event if row else None


def live_entries(stack: Stack, event: str) -> list[tuple[str, bool, bool]]:
    text = get_text(stack, f"live/{event}/180p/live.m3u8")
    return playlist_entries(text) if text else []


def vod_entries(stack: Stack, event: str) -> list[tuple[str, bool, bool]] | None:
    text = get_text(stack, f"live/{event}/180p/vod.m3u8")
    return playlist_entries(text) if text else None


def journaled_segments(stack: Stack, event: str) -> list[str]:
    from journal.events import EventStore

    return [s.name for s in EventStore(stack.journal()).load(event, "180p")]


def test_every_worker_killed_mid_event_the_live_edge_moves_again_and_the_vod_publishes_itself(stack: Stack) -> None:
    workers = [stack.start_worker(concurrency=1), stack.start_worker(concurrency=1)]
    encoder = encode(stack, "encoder", 24, {"SURECAST_ENCODER_FINAL_WAIT": "2"})
    event = wait_until(lambda: current_event(stack), 30, message="no event")
    wait_until(lambda: len(live_entries(stack, event)) >= 3, 40, message="the live playlist never started")
    for worker in workers:
        kill(worker)
    time.sleep(2)
    listed_before = len(live_entries(stack, event))
    replaced_at = time.monotonic()
    stack.start_worker(concurrency=1)
    stack.start_worker(concurrency=1)
    wait_until(lambda: len(live_entries(stack, event)) > listed_before, 15, message="the live edge did not move")
    moved = time.monotonic() - replaced_at
    print(f"every worker killed: the live edge moved again {moved:.1f} s after the replacements started")
    assert moved <= 15
    assert encoder.wait(120) in (0, 3), log_tail(stack.tmp / "encoder.log")
    vod = wait_until(lambda: vod_entries(stack, event), 60, message="no VOD was published by itself")
    print(f"VOD published by itself: {len(vod)} segments")
    assert [uri for uri, _, _ in vod] == journaled_segments(stack, event)
    assert not any(gap for _, gap, _ in vod)
    # The reconciler that published the VOD also told viewers (channel.json, through the pipeline).
    state = wait_until(
        lambda: (
            (text := get_text(stack, f"live/{CHANNEL}/channel.json"))
            and json.loads(text)["current"]["replay"]
            and json.loads(text)
        ),
        30,
        message="channel.json never offered the replay",
    )
    assert state["current"]["event"] == event and state["current"]["state"] == "ended"
    assert state["current"]["replay"] == f"../{event}/master_vod.m3u8"


def test_a_power_cut_and_a_restart_without_an_event_id_continue_the_same_event(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    first = encode(stack, "encoder1", 0)
    event = wait_until(lambda: current_event(stack), 30, message="no event")
    wait_until(lambda: len(live_entries(stack, event)) >= 4, 40, message="the live playlist never started")
    ffmpeg = [c for c in psutil.Process(first.pid).children(recursive=True) if "ffmpeg" in c.name()]
    kill(first)  # the encoder and FFmpeg (its own session dies with it: PDEATHSIG)
    for pid in (c.pid for c in ffmpeg):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for worker in stack.workers:
        kill(worker)
    stack.redis.kill()
    time.sleep(1)
    stack.redis.restart()
    stack.start_worker(concurrency=2)
    second = encode(stack, "encoder2", 10)
    assert second.wait(120) == 0, log_tail(stack.tmp / "encoder2.log")
    assert current_event(stack) == event, "the restart began another event"
    channel = get_text(stack, f"live/{CHANNEL}/master.m3u8")
    assert channel is not None and f"../{event}/180p/live.m3u8" in channel
    vod = wait_until(lambda: vod_entries(stack, event), 60, message="no VOD")
    print(f"power cut: one event {event}, VOD of {len(vod)} segments, {sum(d for _, _, d in vod)} discontinuity")
    assert [uri for uri, _, _ in vod] == journaled_segments(stack, event)
    assert sum(disc for _, _, disc in vod) == 1, "one discontinuity, where the power went"
    assert not any(gap for _, gap, _ in vod)


def test_an_old_unfinished_event_is_ended_and_a_new_one_starts(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    first = encode(stack, "encoder1", 0)
    old = wait_until(lambda: current_event(stack), 30, message="no event")
    wait_until(lambda: len(live_entries(stack, old)) >= 2, 40, message="the live playlist never started")
    kill(first)
    time.sleep(3)
    second = encode(stack, "encoder2", 6, {"SURECAST_ENCODER_RESUME_WITHIN": "1"})
    assert second.wait(120) == 0, log_tail(stack.tmp / "encoder2.log")
    new = current_event(stack)
    assert new and new != old
    assert wait_until(lambda: vod_entries(stack, old), 60, message="the old event's VOD was not published")
    ended = get_text(stack, f"live/{old}/180p/live.m3u8") or ""
    assert ended.rstrip().endswith("#EXT-X-ENDLIST"), "the old event's viewers would watch a frozen stream"


ROOT = os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not ROOT, reason="mounting a small tmpfs for the spool needs root")
def test_a_full_disk_pauses_recording_and_everything_recorded_is_delivered(stack: Stack, tmp_path: Path) -> None:
    spool = tmp_path / "small-spool"
    spool.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(spool)], check=True, timeout=30)
    try:
        env = {
            "SURECAST_SPOOL_DIR": str(spool),
            "SURECAST_ENCODER_RENDITIONS": "640x360@2000k",
            "SURECAST_ENCODER_MIN_FREE_MB": "4",
            "SURECAST_ENCODER_RESUME_MARGIN_MB": "3",
            "SURECAST_SPOOL_RETENTION_SECONDS": "0",
        }
        stack.env.update({"SURECAST_SPOOL_DIR": str(spool)})
        stack.spool = spool
        stack.start_worker(concurrency=2)
        stack.proxy.set_mode("refuse")
        encoder = spawn(
            [str(BIN / "surecast"), "encode", "--duration", "60", "--event-id", "full"],
            {**stack.env, **ENCODER_ENV, **env},
            stack.tmp / "encoder.log",
            cwd=stack.tmp,
        )
        status = stack.tmp / "status.txt"

        def paused() -> bool:
            text = stack.run_cli("status").stdout
            status.write_text(text)
            return "DISK FULL: recording paused since" in text

        began = time.monotonic()
        wait_until(paused, 50, interval=0.5, message="recording never paused")
        print(f"disk full: recording paused {time.monotonic() - began:.1f} s into the outage")
        assert encoder.poll() is None, "the encoder died of the full disk"
        stack.proxy.set_mode("pass")
        assert encoder.wait(150) == 0, log_tail(stack.tmp / "encoder.log")
        assert "recording resumes after a discontinuity" in (stack.tmp / "encoder.log").read_text()
        journal = stack.journal()
        assert journal.totals().waiting_files == 0 and not journal.failed()
        assert journal.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        vod = get_text(stack, "live/full/360p/vod.m3u8")
        assert vod is not None
        entries = playlist_entries(vod)
        from encoder.keys import is_slate
        from journal.events import EventStore

        recorded = [s.name for s in EventStore(journal).load("full", "360p") if not is_slate(s.name)]
        assert [u for u, _, _ in entries] == recorded
        print(f"disk full: VOD of {len(entries)} segments, {sum(d for _, _, d in entries)} discontinuity(ies), no gap")
        assert sum(disc for _, _, disc in entries) >= 1 and not any(gap for _, gap, _ in entries)
    finally:
        subprocess.run(["umount", "-l", str(spool)], check=False, timeout=30)
