"""docs/ARCHITECTURE.md names only what exists: every file and folder, every module attribute, every
Class.method and every code name it puts in backticks."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

from core.contract import UPLOAD_TASK
from journal.db import SCHEMA

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("core", "journal", "encoder", "uploader", "client", "alerts", "report", "console", "stack", "surecast")
TABLES = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA))


def modules() -> list[ModuleType]:
    found = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        found.append(package)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if info.name in ("uploader.celery", "surecast.__main__"):  # entry points: importing them starts things
                continue
            found.append(importlib.import_module(info.name))
    return found


def names_in_doc() -> list[str]:
    return sorted(set(re.findall(r"`([^`\s]+)`", DOC.read_text())))


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def defined_anywhere(name: str, attribute: str | None = None) -> bool:
    for module in modules():
        value = vars(module).get(name)
        own = value is not None and getattr(value, "__module__", module.__name__) == module.__name__
        if own and (attribute is None or hasattr(value, attribute)):
            return True
    return False


def check(name: str) -> bool | None:
    """True/False for a name this test knows how to check; None for prose in backticks (a state, a flag)."""
    if "/" in name:
        # A spool path or an object key in the bucket is prose; any other path is a file of the repository.
        return None if name.startswith(("spool/", "-", "<prefix>/")) else (ROOT / name).exists()
    if name == UPLOAD_TASK:
        return True
    if re.search(r"\.(sqlite3|json|m3u8|ts|mp4)$", name):  # a file on the spool, not a module
        return None
    if re.fullmatch(r"[A-Z]\w*\.\w+", name):
        cls, attribute = name.split(".")
        return defined_anywhere(cls, attribute)
    if name.split(".")[0] in PACKAGES and re.fullmatch(r"[\w.]+", name) and "." in name:
        return resolves(name)
    if re.fullmatch(r"[A-Z][a-z]+[A-Z]\w*", name):  # CamelCase: a class
        return defined_anywhere(name)
    if re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", name):  # snake_case: a function or a table
        return name in TABLES or defined_anywhere(name)
    return None


@pytest.mark.parametrize("name", names_in_doc())
def test_the_architecture_page_names_what_exists(name: str) -> None:
    assert check(name) is not False, f"docs/ARCHITECTURE.md names `{name}`, which does not exist"


def test_the_checker_catches_what_does_not_exist() -> None:
    assert check("encoder/nowhere.py") is False
    assert check("Journal.unpublished") is False and check("Journal.touch") is False
    assert check("core.destinations.nowhere") is False
    assert check("NoSuchPump") is False and check("no_such_function") is False
    assert check("Journal.record") and check("encoder.finish.publish_vod") and check("encoder_segments")
