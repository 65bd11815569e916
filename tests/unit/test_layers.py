"""The package layering holds: entry points -> features -> journal -> core, and no module cycles."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_packages_depend_in_one_direction_and_modules_form_no_cycles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the contracts are in pyproject.toml; the packages are found from here
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0
