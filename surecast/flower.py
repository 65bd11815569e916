"""`surecast flower`: Flower for the upload workers, behind HTTP basic auth, or not at all.

Flower without authentication can shut workers down and send tasks (CVE-2022-30034), so this command
refuses to start unless ``SURECAST_FLOWER_USER`` and ``SURECAST_FLOWER_PASSWORD`` are set. The
credentials reach Flower through its ``FLOWER_BASIC_AUTH`` environment variable (the same option as
``--basic_auth``), not the command line, where every user of the machine could read them with ``ps``.
"""

from __future__ import annotations

import os
import sys

import click
from pydantic import BaseModel, Field, SecretStr, field_validator


class FlowerSection(BaseModel):
    """Settings of `surecast flower`; every field is ``SURECAST_FLOWER_<FIELD>``."""

    user: str = ""
    password: SecretStr = SecretStr("")
    # Loopback by default; the compose file sets 0.0.0.0 inside the container and publishes the port
    # on the host's loopback only.
    address: str = "127.0.0.1"
    port: int = Field(default=5555, ge=1, le=65535)
    # Workers that stopped sending heartbeats this long ago disappear from the dashboard.
    purge_offline_after: int = Field(default=300, ge=0, description="seconds; 0 = keep them")

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if ":" in value or "," in value:
            raise ValueError("must not contain ':' or ','")
        return value


def flower_argv(section: FlowerSection, python: str = sys.executable) -> list[str]:
    """The Flower command line (credentials excluded: they go in the environment). Pure."""
    return [
        python,
        "-m",
        "celery",
        "-A",
        "uploader",
        "flower",
        f"--address={section.address}",
        f"--port={section.port}",
        f"--purge_offline_workers={section.purge_offline_after}",
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


@click.command()
def flower() -> None:
    """Start Flower (the workers' dashboard) with basic auth; refuses to start without credentials."""
    from surecast.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        click.echo(f"surecast: {exc}", err=True)
        sys.exit(2)
    try:
        env = flower_env(settings.flower, dict(os.environ))
    except ValueError as exc:
        click.echo(f"surecast: {exc}", err=True)
        sys.exit(2)
    argv = flower_argv(settings.flower)
    os.execve(argv[0], argv, env)
