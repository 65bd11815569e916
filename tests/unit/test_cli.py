"""The command line's own behaviour: its version, as every CLI has, the first line of its logs, and the link it
gives to share with viewers."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from core.version import surecast_version
from surecast.cli import main
from surecast.commands import setup_logging


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_is_printed(flag: str) -> None:
    result = CliRunner().invoke(main, [flag])
    assert result.exit_code == 0
    assert result.output.strip() == f"surecast {surecast_version()}"
    assert surecast_version() not in ("", "unknown")  # this tree is installed (pip install -e)


def test_the_logs_first_line_names_the_version(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        setup_logging("INFO")
    assert caplog.records[0].getMessage() == f"surecast {surecast_version()}"


def test_share_prints_the_viewers_link_the_embed_snippet_and_a_qr_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURECAST_S3_BUCKET", "church")
    monkeypatch.setenv("SURECAST_S3_PREFIX", "live")
    monkeypatch.setenv("SURECAST_S3_PUBLIC_URL", "https://cdn.example.org")
    monkeypatch.setenv("SURECAST_ENCODER_CHANNEL", "sunday")
    result = CliRunner().invoke(main, ["share", "--qr"])
    assert result.exit_code == 0, result.output
    url = "https://cdn.example.org/live/sunday/index.html"
    lines = result.output.splitlines()
    assert lines[1] == f"  {url}" and lines[3].startswith(f'  <iframe src="{url}" ')
    assert "\u2588" in result.output  # the QR code, in block characters
