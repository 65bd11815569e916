"""The console's backend in production: the sampler's snapshot and history, the actions, the page's config."""

from __future__ import annotations

from typing import Any

from console.actions import Actions
from console.history import INTERVAL_SECONDS, WINDOW_SECONDS
from console.sampler import Sampler
from console.share import share_info
from console.stream import preview_url
from core.settings import Settings
from core.version import surecast_version

STATUS_REFRESH_SECONDS = 1.0


class LiveBackend:
    def __init__(self, settings: Settings, sampler: Sampler, actions: Actions) -> None:
        self._sampler = sampler
        self._actions = actions
        self._config = {
            "stream_url": preview_url(settings.console, settings.s3, settings.encoder.channel),
            "channel": settings.encoder.channel,
            "profile": settings.encoder.profile,  # the preview's hls.js tuning (core/web/latency.js)
            "version": surecast_version(),
            "status_refresh_seconds": STATUS_REFRESH_SECONDS,
            "history_refresh_seconds": INTERVAL_SECONDS,
            "history_seconds": WINDOW_SECONDS,
            "share": share_info(settings),
        }

    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def status(self) -> dict[str, Any]:
        return self._sampler.latest()

    def history(self, since: float | None) -> list[dict[str, Any]]:
        return [p.as_json() for p in self._sampler.history.points(since)]

    def retry(self, reason: str | None) -> tuple[int, int]:
        done = self._actions.retry(reason)
        self._sampler.wake()
        return done

    def finish(self, event: str) -> bool:
        asked = self._actions.finish(event)
        self._sampler.wake()
        return asked
