"""`surecast scale N`: set the number of upload workers.

Under docker compose it scales the ``uploader`` service to N containers. Elsewhere it grows and
shrinks the pools of the running Celery workers (remote control) so that N upload processes run
in total, spread evenly.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from report.workers import pool_sizes

COMPOSE_FILES = ("docker-compose.yml", "compose.yaml", "compose.yml", "docker-compose.yaml")


def plan_pool_sizes(current: dict[str, int], total: int) -> dict[str, int]:
    """Pool size per worker node so the sizes add up to ``total``, as evenly as possible, each at least 1.

    Pure. Nodes keep a stable order (sorted by name) so repeated calls agree.
    """
    nodes = sorted(current)
    if not nodes:
        raise ValueError("no upload workers are running: start one with `surecast worker`")
    if total < len(nodes):
        raise ValueError(f"{total} is fewer than the {len(nodes)} running workers; stop workers to go lower")
    base, extra = divmod(total, len(nodes))
    return {node: base + (1 if i < extra else 0) for i, node in enumerate(nodes)}


def compose_command() -> list[str] | None:
    """``docker compose`` (v2) or ``docker-compose`` (1.29), whichever this machine has."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False, timeout=20)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def compose_running(compose: list[str], project_dir: Path) -> bool:
    """Whether this directory's compose project has an ``uploader`` service running."""
    if not any((project_dir / name).exists() for name in COMPOSE_FILES):
        return False
    probe = subprocess.run(
        [*compose, "ps", "-q", "uploader"], cwd=project_dir, capture_output=True, text=True, check=False, timeout=60
    )
    return probe.returncode == 0 and bool(probe.stdout.strip())


def scale_compose(compose: list[str], project_dir: Path, count: int) -> None:
    """Run the uploader service as ``count`` containers, leaving the running ones alone."""
    subprocess.run(
        [*compose, "up", "-d", "--no-recreate", "--scale", f"uploader={count}", "uploader"],
        cwd=project_dir,
        check=True,
        timeout=600,
    )


def scale_pools(app: Any, total: int, timeout: float = 3.0) -> dict[str, int]:
    """Grow or shrink the running workers' pools to ``total`` processes; return the sizes asked for."""
    current = pool_sizes(app, timeout)
    plan = plan_pool_sizes(current, total)
    for node, size in plan.items():
        change = size - current[node]
        if change > 0:
            app.control.pool_grow(change, destination=[node], reply=True, timeout=timeout)
        elif change < 0:
            app.control.pool_shrink(-change, destination=[node], reply=True, timeout=timeout)
    return plan
