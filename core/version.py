"""surecast's version, as installed (the package metadata written from pyproject.toml)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "surecast"


def surecast_version() -> str:
    """The installed version, or "unknown" when run from a tree that was never installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"
