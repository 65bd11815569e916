"""The web player process (`surecast player`): open on this PC's loopback, behind the stack's login beyond it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.procs import free_port, http_status, log_tail, spawn, terminate, wait_until

BIN = Path(sys.executable).parent


def _env(spool: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURECAST_")}
    return {**env, "SURECAST_SPOOL_DIR": str(spool), "SURECAST_S3_BUCKET": "venue"}


def _start(tmp_path: Path, bind: str) -> tuple[subprocess.Popen[bytes], Path, str]:
    port = free_port()
    log = tmp_path / f"player-{bind}.log"
    proc = spawn([str(BIN / "surecast"), "player", "--bind", bind, "--port", str(port)], _env(tmp_path / "spool"), log)
    wait_until(lambda: "surecast player: http://" in log.read_text() or proc.poll() is not None, 20)
    assert proc.poll() is None, log_tail(log)
    return proc, log, f"http://127.0.0.1:{port}/"


def test_beyond_loopback_the_player_needs_the_stacks_login(tmp_path: Path) -> None:
    proc, log, url = _start(tmp_path, "0.0.0.0")
    try:
        printed = subprocess.run(
            [str(BIN / "surecast"), "credentials"],
            env=_env(tmp_path / "spool"),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        fields = dict(line.split(": ", 1) for line in printed.splitlines())
        login = (fields["user"], fields["password"])
        assert http_status(url) == 401
        assert http_status(url + "player.js") == 401
        assert http_status(url, (login[0], "wrong")) == 401
        assert http_status(url, login) == 200
        assert http_status(url + "player.js", login) == 200
        assert f"user {login[0]}" in log.read_text()
    finally:
        terminate(proc)


def test_on_loopback_the_player_is_open(tmp_path: Path) -> None:
    proc, _, url = _start(tmp_path, "127.0.0.1")
    try:
        assert http_status(url) == 200
        assert not (tmp_path / "spool" / "credentials.json").exists(), "no login made when none is needed"
    finally:
        terminate(proc)
