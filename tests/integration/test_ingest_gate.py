"""The ingest gate alone, in front of a real FFmpeg listener: what is not a push with the right key never reaches
FFmpeg, whatever it is (a port scan, an HTTP request, a connection that says nothing, a flood of them), and the
right push gets through beside them."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from encoder import ingest_gate
from encoder.ffmpegproc import find_ffmpeg
from encoder.ingest_gate import IngestGate, free_loopback_port
from encoder.ingest_keys import GatePlan
from tests.integration.test_ingest_push import _pusher_command
from tests.support.procs import log_tail, spawn, terminate, wait_until

KEY = "venue-key-0042"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[IngestGate]:
    monkeypatch.setattr(ingest_gate, "PREAUTH_SECONDS", 5.0)
    upstream = free_loopback_port()
    running = IngestGate(GatePlan("127.0.0.1", 0, KEY, f"rtmp://127.0.0.1:{upstream}/live/{KEY}"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _listener(gate: IngestGate, out: Path) -> subprocess.Popen[bytes]:
    """FFmpeg's listener behind the gate, copying what it receives into ``out``."""
    argv = [find_ffmpeg(""), "-hide_banner", "-nostdin", "-loglevel", "warning", "-listen", "1",
            "-i", gate.plan.upstream, "-c", "copy", "-f", "mpegts", "-y", str(out)]  # fmt: skip
    return spawn(argv, None, out.with_suffix(".log"))


def _seconds_in(path: Path) -> float:
    probe = subprocess.run(
        [find_ffmpeg(""), "-hide_banner", "-i", str(path), "-map", "0:v", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    times = [part.split("time=")[1].split()[0] for part in probe.stderr.split("\r") if "time=" in part]
    h, m, s = times[-1].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.mark.timeout(120)
def test_strangers_never_reach_ffmpeg_and_the_right_push_gets_through_beside_them(
    gate: IngestGate, tmp_path: Path
) -> None:
    out = tmp_path / "received.ts"
    listener = _listener(gate, out)
    strangers = []
    try:
        for payload in (b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x03" + b"\0" * 100, b"\x06" * 2000):
            sock = socket.create_connection(("127.0.0.1", gate.port), timeout=5)
            sock.sendall(payload)
            strangers.append(sock)
        flood = [socket.create_connection(("127.0.0.1", gate.port), timeout=5) for _ in range(40)]
        # All 44 wait to name a stream (PREAUTH_SECONDS, 5 s here) while OBS connects: the oldest give way.
        push = spawn(_pusher_command(f"rtmp://127.0.0.1:{gate.port}/live/{KEY}", "flv", 5), None, tmp_path / "p.log")
        assert push.wait(60) == 0, log_tail(tmp_path / "p.log")
        assert listener.wait(30) == 0, log_tail(out.with_suffix(".log"))
        # Every stranger was closed by the gate (within PREAUTH_SECONDS) and none counted as a refused push.
        for sock in strangers + flood:
            sock.settimeout(5)
            assert wait_until(lambda s=sock: _closed(s), 15, 0.1, "a stranger was left open")
    finally:
        for sock in strangers:
            sock.close()
        terminate(listener)
    received = _seconds_in(out)
    print(f"FIGURE the right push beside 44 strangers: {received:.1f} s of 5 s received by FFmpeg")
    assert received >= 4.0
    assert gate.refused.as_status()["count"] == 0


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""  # what the gate answered first (S0 S1 S2) is read through
    except (ConnectionResetError, TimeoutError):
        return True


@pytest.mark.timeout(60)
def test_stopping_the_gate_ends_the_push_as_if_obs_had_stopped(gate: IngestGate, tmp_path: Path) -> None:
    out = tmp_path / "received.ts"
    listener = _listener(gate, out)
    push = spawn(_pusher_command(f"rtmp://127.0.0.1:{gate.port}/live/{KEY}", "flv", 60), None, tmp_path / "p.log")
    try:
        wait_until(lambda: out.exists() and out.stat().st_size > 50_000, 30, 0.2, log_tail(tmp_path / "p.log"))
        began = time.monotonic()
        gate.stop()
        assert listener.wait(20) == 0, log_tail(out.with_suffix(".log"))  # FFmpeg ended its input cleanly
        assert push.wait(20) != 0  # the pusher lost its server
        print(f"FIGURE a stopped gate ends FFmpeg's input within {time.monotonic() - began:.1f} s")
    finally:
        terminate(push)
        terminate(listener)
