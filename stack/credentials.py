"""The stack's generated credentials: one admin user and password for the console and Flower, and the ingest
key OBS pushes with (the RTMP stream key and the SRT passphrase of a listener whose URL names none).

Made on the first start that needs them and kept in ``<spool>/credentials.json`` (mode 0600; the spool is
the volume every container of the stack shares), so the console, Flower and the encoder agree and a restart
keeps them. Whoever creates the file prints it once; `surecast credentials` prints it again. A file from
before the ingest key gets one added the first time it is asked for.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from core.service_settings import FlowerSection
from core.settings import Settings
from stack.flower import flower_section_with

CREDENTIALS_NAME = "credentials.json"
ADMIN_USER = "surecast"
PASSWORD_BYTES = 18  # token_urlsafe: 24 characters of [A-Za-z0-9_-], so no ',' or ':' to trip Flower
INGEST_KEY_BYTES = 18  # 24 characters of [A-Za-z0-9_-]: a valid stream key and SRT passphrase (10 to 79)


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
    tmp = _write_private(path, {"user": user, "password": password, "ingest_key": _new_ingest_key()})
    try:
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


def stack_ingest_key(spool: Path) -> tuple[str, bool]:
    """(key, created): the ingest key, generated with the credentials or added to a file from before it.

    The addition holds a lock on the file and reads it again under the lock, so two processes asking at
    once agree on one key.
    """
    path = credentials_path(spool)
    created = stack_credentials(spool)[2]
    data = _read_all(path)
    if data.get("ingest_key"):
        return str(data["ingest_key"]), created
    with path.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        data = _read_all(path)  # another process may have added it while this one waited
        if data.get("ingest_key"):
            return str(data["ingest_key"]), False
        key = _new_ingest_key()
        tmp = _write_private(path, {**data, "ingest_key": key})
        try:
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return key, True


def _new_ingest_key() -> str:
    return secrets.token_urlsafe(INGEST_KEY_BYTES)


def _write_private(path: Path, data: dict[str, Any]) -> Path:
    """``data`` durably in a new private file beside ``path``; the caller moves it into place."""
    tmp = path.with_name(f".{CREDENTIALS_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _read(path: Path) -> tuple[str, str] | None:
    try:
        data = _read_all(path)
    except FileNotFoundError:
        return None
    return str(data["user"]), str(data["password"])


def _read_all(path: Path) -> dict[str, Any]:
    """The file's fields; raises FileNotFoundError, or CredentialsError for a file this module did not write."""
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise CredentialsError(f"{path} is not valid JSON: remove it to generate new credentials") from exc
    if not isinstance(data, dict) or not data.get("user") or not data.get("password"):
        raise CredentialsError(f"{path} has no user and password: remove it to generate new credentials")
    return data


def credentials_message(user: str, password: str, urls: dict[str, str], ingest_key: str = "") -> str:
    """What is printed when the credentials are created, and by `surecast credentials`. Pure."""
    lines = [f"user: {user}", f"password: {password}"]
    if ingest_key:
        lines.append(
            f"ingest key: {ingest_key} (OBS: Settings > Stream > Stream Key; for SRT, passphrase= in the Server URL)"
        )
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
        key = stack_ingest_key(Path(settings.spool.dir))[0]
        message = credentials_message(user, password, service_urls(settings), key)
        path = credentials_path(Path(settings.spool.dir))
        print(f"surecast: generated the stack's credentials (kept in {path}):\n{message}", file=sys.stderr)
    return user, password


def generated_ingest_key(settings: Settings) -> str:
    """The stack's ingest key, for a listener whose URL names none; printed once, by the call that made it."""
    spool = Path(settings.spool.dir)
    user, password, created = stack_credentials(spool)
    key, added = stack_ingest_key(spool)
    path = credentials_path(spool)
    if created:
        message = credentials_message(user, password, service_urls(settings), key)
        print(f"surecast: generated the stack's credentials (kept in {path}):\n{message}", file=sys.stderr)
    elif added:
        print(
            f"surecast: generated the ingest key (kept in {path}; `surecast credentials` prints it again): {key}",
            file=sys.stderr,
        )
    return key


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
