"""Settings of alerts and of the fleet page: ``SURECAST_ALERTS`` (Apprise URLs), ``SURECAST_ALERTS_AFTER``,
``SURECAST_VENUE`` and ``SURECAST_FLEET_*``. Pure: no I/O.

Whether Apprise can parse each URL is checked by the processes that send (``alerts.targets``), so a start
that would send refuses a URL it cannot use; here only the shape of the list is checked.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field, SecretStr

from core.login_settings import LoginSection

ALERTS_AFTER_SECONDS = 30.0  # the default of SURECAST_ALERTS_AFTER
VENUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
VENUE_QUEUE_PREFIX = "venue-"  # SURECAST_WORKER_QUEUE=venue-<name> in a multi-venue setup
_URL_START = re.compile(r"[\s,]+(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def split_alert_urls(value: Any) -> Any:
    """SURECAST_ALERTS as a list: a JSON list, or URLs separated by spaces, new lines or commas (a comma
    inside a URL, as in ``mailto://...?to=a@x.org,b@x.org``, stays in it). Pure.

    A mapping means pydantic-settings gathered other ``SURECAST_ALERTS_*`` names (SURECAST_ALERTS_AFTER)
    under this field with SURECAST_ALERTS itself unset: they belong to fields of their own, so no URL.
    """
    if isinstance(value, dict):
        return []
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("starts with '[' but is not a JSON list of Apprise URLs") from None
    return [part for part in _URL_START.split(text) if part.strip()]


def check_alert_url_shapes(urls: list[SecretStr]) -> list[SecretStr]:
    """Each entry looks like a URL (``scheme://...``); the message never shows one (they hold tokens)."""
    for n, url in enumerate(urls, start=1):
        if "://" not in url.get_secret_value():
            raise ValueError(f"entry {n} is not an Apprise URL (scheme://...), e.g. tgram://BOT_TOKEN/CHAT_ID")
    return urls


def check_venue(value: str) -> str:
    if value and not VENUE_NAME.fullmatch(value):
        raise ValueError("must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def derived_venue(venue: str, queue: str, hostname: str) -> str:
    """The venue's name in alerts and on the fleet page: SURECAST_VENUE, else the name in a multi-venue
    queue (``venue-<name>``), else this host's name (its first label). Pure."""
    if venue:
        return venue
    if queue.startswith(VENUE_QUEUE_PREFIX) and VENUE_NAME.fullmatch(queue.removeprefix(VENUE_QUEUE_PREFIX)):
        return queue.removeprefix(VENUE_QUEUE_PREFIX)
    host = hostname.split(".")[0]
    return host if VENUE_NAME.fullmatch(host) else "venue"


class FleetSection(LoginSection):
    """Settings of `surecast fleet`, the page with every venue; every field is ``SURECAST_FLEET_<FIELD>``.

    Every route needs HTTP basic auth: these credentials when set, otherwise the stack's generated ones.
    """

    ENV_PREFIX = "SURECAST_FLEET_"

    port: int = Field(default=8091, ge=1, le=65535)
