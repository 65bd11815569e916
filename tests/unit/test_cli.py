"""The command line's own behaviour: its version, as every CLI has, and the first line of its logs."""

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
