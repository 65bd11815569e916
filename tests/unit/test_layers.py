"""The package layering holds: entry points -> features -> journal -> core, and no module cycles; and
nothing below the command line starts the `surecast` command (it calls the function instead)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
# Where the command line may start itself (a worker per destination, the children of `surecast up`).
COMMAND_LINE = {"surecast", "tests"}
STARTS_THE_COMMAND = re.compile(
    r"""["']-m["']\s*,\s*["']surecast["']"""  # [sys.executable, "-m", "surecast", ...]
    r"""|\[\s*["']surecast["']\s*[,\]]"""  # ["surecast", ...]
    r"""|which\(\s*["']surecast["']\s*\)"""  # shutil.which("surecast")
)


def test_packages_depend_in_one_direction_and_modules_form_no_cycles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the contracts are in pyproject.toml; the packages are found from here
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def below_the_command_line() -> list[Path]:
    """Every Python file of the project outside the command line and the tests."""
    files: list[Path] = []
    for entry in sorted(ROOT.iterdir()):
        if entry.name.startswith(".") or entry.name in COMMAND_LINE or entry.name.endswith(".egg-info"):
            continue
        if entry.is_dir() and entry.name != "build":
            files += sorted(entry.rglob("*.py"))
        elif entry.suffix == ".py":
            files.append(entry)
    return files


def commands_started(text: str) -> list[int]:
    """The lines of ``text`` where a match of STARTS_THE_COMMAND begins."""
    return [text.count("\n", 0, m.start()) + 1 for m in STARTS_THE_COMMAND.finditer(text)]


@pytest.mark.parametrize(
    "planted",
    [
        'argv = [sys.executable, "-m", "surecast", "reconcile"]',
        "argv = [\n    sys.executable,\n    '-m',\n    'surecast',\n]",
        'SURECAST = [sys.executable, "-m", "surecast"]',
        'subprocess.Popen(["surecast", "finish-event", event])',
        'subprocess.run(["surecast"])',
        'exe = shutil.which("surecast")',
    ],
)
def test_each_way_of_starting_the_command_is_found(planted: str) -> None:
    assert len(commands_started(f"import sys\n{planted}\n")) == 1


@pytest.mark.parametrize(
    "harmless",
    ['"""Run by `surecast reconcile --every N`."""', 'log.info("surecast worker started")', 'NAME = "surecast"'],
)
def test_naming_the_command_is_not_starting_it(harmless: str) -> None:
    assert commands_started(harmless) == []


def test_nothing_below_the_command_line_starts_the_surecast_command() -> None:
    files = below_the_command_line()
    assert ROOT / "stack" / "up.py" in files and ROOT / "deploy" / "healthcheck.py" in files
    assert not any(f.is_relative_to(ROOT / "surecast") or f.is_relative_to(ROOT / "tests") for f in files)
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in files
        for line in commands_started(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert found == [], "call the function instead of starting the surecast command: " + ", ".join(found)
