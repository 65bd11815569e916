"""The alert targets: the Apprise URLs of SURECAST_ALERTS, and the one place Apprise is called.

Each URL becomes a target with a short id (a digest: the journal never holds a URL, which carries tokens)
and a name safe to print (Apprise's private form, without the query). A send has bounded timeouts and
either returns or raises ``AlertNotSent`` with Apprise's reason.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass

import apprise
from pydantic import SecretStr

from alerts.errors import AlertNotSent, BadAlertURL

CONNECT_TIMEOUT = 5.0  # seconds; a target that never answers costs one sender thread at most this ...
READ_TIMEOUT = 10.0  # ... plus this, per attempt


@dataclass(frozen=True)
class AlertTarget:
    id: str
    name: str
    url: SecretStr

    def __repr__(self) -> str:
        return f"AlertTarget({self.name})"


def alert_targets(urls: list[SecretStr]) -> list[AlertTarget]:
    """The targets of SURECAST_ALERTS; raises BadAlertURL naming the first entry Apprise cannot use."""
    targets = []
    for n, url in enumerate(urls, start=1):
        plugin = _plugin(url.get_secret_value())
        if plugin is None:
            raise BadAlertURL(
                f"SURECAST_ALERTS entry {n} ({_shown(url.get_secret_value())}) is not a URL Apprise can use: "
                "check it against Apprise's list of services (https://github.com/caronc/apprise/wiki)"
            )
        digest = hashlib.sha256(url.get_secret_value().encode()).hexdigest()[:12]
        name = str(plugin.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]
        targets.append(AlertTarget(digest, name, url))
    return targets


def send_alert(target: AlertTarget, title: str, body: str, level: str) -> None:
    """One message to one target, within the timeouts; raises AlertNotSent with the reason."""
    plugin = _plugin(target.url.get_secret_value())
    if plugin is None:  # it parsed at start: a plugin that became disabled since
        raise AlertNotSent(f"{target.name}: Apprise can no longer use this URL")
    plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout), CONNECT_TIMEOUT)
    plugin.socket_read_timeout = min(float(plugin.socket_read_timeout), READ_TIMEOUT)
    _REASONS.take()
    if not plugin.notify(body=body, title=title, notify_type=_notify_type(level)):
        raise AlertNotSent(f"{target.name}: {_REASONS.take() or 'refused, no reason given'}")


class _ThreadReasons(logging.Handler):
    """What Apprise last warned about, per thread: the reason a send failed, told apart from the sends
    other threads make at the same time (Apprise reports failures only through its log)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._last: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self._last[threading.get_ident()] = " ".join(record.getMessage().split())[:300]

    def take(self) -> str:
        return self._last.pop(threading.get_ident(), "")


_REASONS = _ThreadReasons()
logging.getLogger(apprise.LOGGER_NAME).addHandler(_REASONS)


def _notify_type(level: str) -> apprise.NotifyType:
    try:
        return apprise.NotifyType(level)
    except ValueError:
        return apprise.NotifyType.INFO


class _QuietWhileParsing(logging.Filter):
    """Drops Apprise's own records about a URL it is parsing in this thread: it logs an unparseable URL whole,
    tokens and all, and ours (``BadAlertURL``) names it by position and scheme only."""

    def __init__(self) -> None:
        super().__init__()
        self.parsing = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.parsing, "on", False)


_QUIET = _QuietWhileParsing()
logging.getLogger(apprise.LOGGER_NAME).addFilter(_QUIET)


def _plugin(url: str) -> apprise.plugins.NotifyBase | None:
    _QUIET.parsing.on = True
    try:
        found = apprise.Apprise.instantiate(url)
    finally:
        _QUIET.parsing.on = False
    return found if isinstance(found, apprise.plugins.NotifyBase) else None


def _shown(url: str) -> str:
    """Only the scheme of a URL that could not be parsed: the rest may be a token."""
    return url.split("://", 1)[0] + "://..." if "://" in url else "not a URL"
