"""The S3 credentials file (``SURECAST_S3_CREDENTIALS_FILE``): one access key pair in AWS's shared
credentials format, so the aws CLI and rclone can use it too (``AWS_SHARED_CREDENTIALS_FILE=...``).

The embedded S3 server writes it (``<spool>/s3/credentials``, mode 0600) with the admin keys it generated;
processes that upload to that server read it through their settings. Rendering and parsing are pure;
``read_credentials_file`` is the one read.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

SECTION = "default"
ACCESS_KEY_OPTION = "aws_access_key_id"
SECRET_KEY_OPTION = "aws_secret_access_key"


@dataclass(frozen=True)
class KeyPair:
    access_key_id: str
    secret_access_key: SecretStr


def render_credentials(pair: KeyPair, comment: str = "") -> str:
    """The file's text. Pure."""
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [
        f"[{SECTION}]",
        f"{ACCESS_KEY_OPTION} = {pair.access_key_id}",
        f"{SECRET_KEY_OPTION} = {pair.secret_access_key.get_secret_value()}",
    ]
    return "\n".join(lines) + "\n"


def parse_credentials(text: str) -> KeyPair:
    """The key pair of the ``[default]`` section; ValueError saying what is missing. Pure."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise ValueError(f"not an AWS credentials file: {exc.message}") from None
    if not parser.has_section(SECTION):
        raise ValueError(f"no [{SECTION}] section")
    access = parser.get(SECTION, ACCESS_KEY_OPTION, fallback="").strip()
    secret = parser.get(SECTION, SECRET_KEY_OPTION, fallback="").strip()
    if not access or not secret:
        raise ValueError(f"[{SECTION}] needs both {ACCESS_KEY_OPTION} and {SECRET_KEY_OPTION}")
    return KeyPair(access, SecretStr(secret))


def read_credentials_file(path: Path) -> KeyPair:
    """Read and parse the file; ValueError (naming no secret) when it cannot be used."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_credentials(text)
