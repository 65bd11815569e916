"""`surecast flower`: Flower for the upload workers, behind HTTP basic auth, or not at all.

Flower without authentication can shut workers down and send tasks (CVE-2022-30034), so it never starts
without credentials: ``SURECAST_FLOWER_USER`` and ``SURECAST_FLOWER_PASSWORD``, or else the stack's generated
ones (``stack/credentials.py``, given to ``flower_section_with``). The
credentials reach Flower through its ``FLOWER_BASIC_AUTH`` environment variable (the same option as
``--basic_auth``), not the command line, where every user of the machine could read them with ``ps``.
"""

from __future__ import annotations

import sys

from pydantic import SecretStr

from core.service_settings import FlowerSection

PURGE_OFFLINE_AFTER = 300  # seconds: workers silent this long leave the dashboard (names change at each start)


def flower_argv(section: FlowerSection, python: str = sys.executable) -> list[str]:
    """The Flower command line (credentials excluded: they go in the environment). Pure."""
    return [
        python,
        "-m",
        "stack.flower_guard",  # Celery's command line, with Flower's /metrics and /healthcheck guarded
        "-A",
        "uploader",
        "flower",
        f"--address={section.address}",
        f"--port={section.port}",
        f"--purge_offline_workers={PURGE_OFFLINE_AFTER}",
    ]


def flower_env(section: FlowerSection, base: dict[str, str]) -> dict[str, str]:
    """``base`` plus Flower's basic-auth option; raises ValueError naming the variables if unset. Pure."""
    if not section.user or not section.password.get_secret_value():
        raise ValueError(
            "Flower needs basic auth: set SURECAST_FLOWER_USER and SURECAST_FLOWER_PASSWORD "
            "(Flower without authentication can shut workers down)"
        )
    if "," in section.password.get_secret_value():  # Flower splits its list of credentials at commas
        raise ValueError("SURECAST_FLOWER_PASSWORD must not contain ','")
    env = dict(base)
    env["FLOWER_BASIC_AUTH"] = f"{section.user}:{section.password.get_secret_value()}"
    return env


def flower_section_with(section: FlowerSection, user: str, password: str) -> FlowerSection:
    """``section`` with these credentials where SURECAST_FLOWER_USER/_PASSWORD are unset (the stack's generated
    ones); configured credentials win. Pure."""
    if section.user and section.password.get_secret_value():
        return section
    return section.model_copy(update={"user": user, "password": SecretStr(password)})
