"""The stack's generated credentials: one admin user and password for the console and Flower.

Made on the first start that needs them and kept in ``<spool>/credentials.json`` (mode 0600; the spool is
the volume every container of the stack shares), so the console and Flower agree and a restart keeps
them. Whoever creates the file prints it once; `surecast credentials` prints it again.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

from core.service_settings import FlowerSection
from core.settings import Settings
from stack.flower import flower_section_with

CREDENTIALS_NAME = "credentials.json"
ADMIN_USER = "surecast"
PASSWORD_BYTES = 18  # token_urlsafe: 24 characters of [A-Za-z0-9_-], so no ',' or ':' to trip Flower


class CredentialsError(OSError):
    """The credentials file exists but cannot be used (unreadable, or not what this module writes)."""


def credentials_path(spool: Path) -> Path:
    return Path(spool) / CREDENTIALS_NAME


def stack_credentials(spool: Path) -> tuple[str, str, bool]:
    """(user, password, created): the stack's credentials, generated and stored on the first call.

    Creation is atomic (a private temporary file hard-linked into place): two processes starting at once
    end up with the same pair, and a reader never sees a half-written file.
    """
    path = credentials_path(spool)
    found = _read(path)
    if found is not None:
        return (*found, False)
    user, password = ADMIN_USER, secrets.token_urlsafe(PASSWORD_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{CREDENTIALS_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"user": user, "password": password}, f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process won the race: use its pair
            found = _read(path)
            if found is None:
                raise CredentialsError(f"{path} vanished while it was being created") from None
            return (*found, False)
    finally:
        tmp.unlink(missing_ok=True)
    return user, password, True


def _read(path: Path) -> tuple[str, str] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise CredentialsError(f"{path} is not valid JSON: remove it to generate new credentials") from exc
    if not isinstance(data, dict) or not data.get("user") or not data.get("password"):
        raise CredentialsError(f"{path} has no user and password: remove it to generate new credentials")
    return str(data["user"]), str(data["password"])


def credentials_message(user: str, password: str, urls: dict[str, str]) -> str:
    """What is printed when the credentials are created, and by `surecast credentials`. Pure."""
    lines = [f"user: {user}", f"password: {password}"]
    lines += [f"{name}: {url}" for name, url in urls.items()]
    return "\n".join(lines)


def service_urls(settings: Settings) -> dict[str, str]:
    """Where the console, Flower and the web player answer on this PC, for the message above. Pure."""
    return {
        "console": _url(settings.console.bind, settings.console.port),
        "Flower": _url(settings.flower.address, settings.flower.port),
        "web player": _url(settings.client.player_bind, settings.client.player_port),
    }


def _url(bind: str, port: int) -> str:
    host = "127.0.0.1" if bind in ("", "0.0.0.0", "::") else bind
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def stack_login(settings: Settings) -> tuple[str, str]:
    """The stack's (user, password); printed once, with the addresses, by the call that created them."""
    user, password, created = stack_credentials(Path(settings.spool.dir))
    if created:
        message = credentials_message(user, password, service_urls(settings))
        path = credentials_path(Path(settings.spool.dir))
        print(f"surecast: generated the stack's credentials (kept in {path}):\n{message}", file=sys.stderr)
    return user, password


def web_login(settings: Settings) -> tuple[str, str]:
    """The login of the stack's pages (console, web player): SURECAST_CONSOLE_USER/_PASSWORD, else the
    stack's generated pair. Raises OSError (CredentialsError) when the spool cannot give one."""
    section = settings.console
    if section.user:
        return section.user, section.password.get_secret_value()
    return stack_login(settings)


def flower_section(settings: Settings) -> FlowerSection:
    """Flower's settings with its credentials: SURECAST_FLOWER_USER/_PASSWORD if set, else the stack's.

    Raises ValueError (what `surecast flower` reports) when neither can be had.
    """
    if settings.flower.user and settings.flower.password.get_secret_value():
        return settings.flower
    try:
        return flower_section_with(settings.flower, *stack_login(settings))
    except OSError as exc:
        raise ValueError(
            f"Flower needs basic auth: set SURECAST_FLOWER_USER and SURECAST_FLOWER_PASSWORD, or fix {exc}"
        ) from exc
