"""The alert settings at the command line, as a user meets them: a bad Apprise URL stops every process that
would send with one line, and `surecast alerts test` says which target failed (a webhook receiver on loopback
as the one that works, a closed loopback port as the one that does not)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.procs import free_port
from tests.support.stack import BIN
from tests.support.webhook import WebhookReceiver


def run_surecast(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SURECAST_")}
    return subprocess.run(
        [str(BIN / "surecast"), *args],
        env={**clean, "SURECAST_SPOOL_DIR": str(tmp_path / "spool"), **env},
        cwd=tmp_path,  # no .env of the tree is read
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["console"], ["fleet"], ["up"], ["alerts", "test"]])
def test_a_bad_apprise_url_stops_the_start_with_one_clear_line(command: list[str], tmp_path: Path) -> None:
    urls = "json://127.0.0.1:9/ok nosuchservice://secret-token@example.org"
    result = run_surecast(command, tmp_path, SURECAST_ALERTS=urls)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("20", "INFO"))]  # log lines
    assert lines == [
        "surecast: SURECAST_ALERTS entry 2 (nosuchservice://...) is not a URL Apprise can use: check it against "
        "Apprise's list of services (https://github.com/caronc/apprise/wiki)"
    ]
    assert "secret-token" not in result.stderr + result.stdout


def test_alerts_test_sends_to_each_target_and_says_which_failed(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there: the connection is refused
    with WebhookReceiver() as hook:
        urls = f"{hook.url('works')} json://127.0.0.1:{closed}/broken"
        result = run_surecast(["alerts", "test"], tmp_path, SURECAST_ALERTS=urls, SURECAST_VENUE="north")
        received = hook.messages("works")
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert out[0] == f"sent   json://127.0.0.1:{hook.port}/works"
    assert out[1].startswith(f"FAILED json://127.0.0.1:{closed}/broken: ")
    assert "1 of 2 target(s) failed" in result.stderr
    assert [m.title for m in received] == ["Test alert from north"]
    assert "(channel main)" in received[0].message
    print(f"\nalerts test: {out[1]}")


def test_alerts_test_without_targets_says_how_to_set_them(tmp_path: Path) -> None:
    result = run_surecast(["alerts", "test"], tmp_path)
    assert result.returncode == 1
    assert "no alert targets: set SURECAST_ALERTS" in result.stderr
