"""The command line's own behaviour: its version, as every CLI has, the first line of its logs, and the link it
gives to share with viewers."""

from __future__ import annotations

import logging
import os
from pathlib import Path

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
    assert lines[1] == f"  {url}" and lines[2] == "  (its address is SURECAST_S3_PUBLIC_URL)"
    assert lines[4].startswith(f'  <iframe src="{url}" ')
    assert "\u2588" in result.output  # the QR code, in block characters


def test_share_without_settings_prints_the_default_link_and_names_what_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [n for n in os.environ if n.startswith("SURECAST_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # an empty folder: no .env
    result = CliRunner().invoke(main, ["share"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "  https://surecast.s3.us-east-1.amazonaws.com/live/main/index.html"
    assert lines[2].startswith("  (SURECAST_S3_BUCKET is not set: this is the default bucket 'surecast' on AWS S3;")
    assert "SURECAST_S3_PUBLIC_URL" in lines[2]
