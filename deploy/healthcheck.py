#!/opt/surecast/bin/python
"""Container health checks, installed as ``surecast-healthcheck encoder|uploader|flower|s3``.

- encoder: its status file was rewritten recently (the encoder rewrites it every second while it runs).
- uploader: this container's Celery node (named by ``surecast-uploader``) answers a ping through Redis.
- flower: Flower's API answers 200 to the configured credentials.
- s3: the embedded S3 server answers its generated admin keys, and the bucket exists with the players'
  CORS rule (the last thing `surecast embedded-s3` sets up).

Exit 0 when healthy, 1 with one line saying why not.
"""

from __future__ import annotations

import base64
import sys
import time
import urllib.request
from pathlib import Path

from core.settings import Settings, settings_or_exit
from encoder.status import read_encoder_status

ENCODER_STALE_AFTER = 30.0
NODE_FILE = Path("/tmp/surecast-node")
TIMEOUT = 10.0


def encoder(settings: Settings) -> str | None:
    status = read_encoder_status(Path(settings.spool.dir))
    if status is None:
        return f"no encoder status in {settings.spool.dir}"
    age = time.time() - float(status.get("updated_at", 0))
    if age > ENCODER_STALE_AFTER:
        return f"encoder status not updated for {age:.0f} s"
    return None


def uploader(settings: Settings) -> str | None:
    try:
        node = NODE_FILE.read_text().strip()
    except OSError as exc:
        return f"no node name in {NODE_FILE}: {exc}"
    from uploader.app import make_app

    replies = make_app(settings).control.ping(destination=[node], timeout=TIMEOUT / 2)
    if not any(node in reply for reply in replies):
        return f"worker {node} did not answer a ping"
    return None


def _answers(url: str, login: tuple[str, str] | None) -> str | None:
    """None if ``url`` answers 200 (with the login), else why not."""
    request = urllib.request.Request(url)
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except OSError as exc:  # HTTPError and URLError included
        return f"{url}: {exc}"


def _local(address: str) -> str:
    return "127.0.0.1" if address in ("0.0.0.0", "") else address


def flower(settings: Settings) -> str | None:
    from stack.credentials import flower_section

    section = flower_section(settings)
    login = (section.user, section.password.get_secret_value())
    return _answers(f"http://{_local(section.address)}:{section.port}/api/workers?status=true", login)


def console(settings: Settings) -> str | None:
    from stack.credentials import web_login

    section = settings.console
    return _answers(f"http://{_local(section.bind)}:{section.port}/api/status", web_login(settings))


def player(settings: Settings) -> str | None:
    from core.service_settings import LOOPBACK_ADDRESSES
    from stack.credentials import web_login

    bind = settings.client.player_bind
    login = None if bind in LOOPBACK_ADDRESSES else web_login(settings)
    return _answers(f"http://{_local(bind)}:{settings.client.player_port}/", login)


def s3(settings: Settings) -> str | None:
    from stack.embedded_s3 import Layout
    from stack.embedded_s3_process import EmbeddedS3Error, admin_client, is_ready, load_or_create_credentials

    layout = Layout.from_settings(settings.embedded_s3, Path(settings.spool.dir))
    if not layout.credentials.is_file():
        return f"no admin keys yet in {layout.credentials}"
    try:
        keys = load_or_create_credentials(layout.credentials)
    except EmbeddedS3Error as exc:
        return str(exc)
    endpoint = f"http://127.0.0.1:{settings.embedded_s3.port}"
    client = admin_client(endpoint, keys, connect_timeout=2, read_timeout=TIMEOUT / 2)
    if not is_ready(client, settings.s3.bucket):
        return f"embedded S3 on {endpoint}: bucket {settings.s3.bucket} not ready"
    return None


CHECKS = {"encoder": encoder, "uploader": uploader, "flower": flower, "s3": s3, "console": console, "player": player}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in CHECKS:
        print(f"usage: surecast-healthcheck {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    problem = CHECKS[argv[1]](settings_or_exit())
    if problem:
        print(problem)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
