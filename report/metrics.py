"""A Prometheus endpoint with surecast's own figures, read from the journal and Redis at each scrape.

Flower keeps serving Celery's own metrics; these are the ones only surecast knows: backlog, oldest
unverified file, live-edge lag per rendition, retries, integrity re-uploads, failed files.

Names follow Prometheus's rules: base units in the name (``_seconds``, ``_bytes``, ``_timestamp_seconds``),
``_total`` on counters, labels of a bounded set only (a file's state, a rendition of the ladder, a
configured destination; never a key or an event). Names that broke them were renamed; the old ones are
still served beside the new, with "Deprecated" in their help, for dashboards built on them (``RENAMED``),
except ``surecast_integrity_reuploads``: a gauge of that name would clash with the counter's family
``surecast_integrity_reuploads`` in OpenMetrics, so only ``surecast_integrity_reuploads_total`` is served.
The alert rules and dashboard in deploy/monitoring/ use the new names.
"""

from __future__ import annotations

import base64
import hmac
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import redis
from prometheus_client import make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from core.settings import Settings
from journal.figures import live_edge_lag
from journal.files import Journal
from report.status import collect_status, destination_status

log = logging.getLogger(__name__)

# Old name -> the name that replaced it; both are served until dashboards have moved.
RENAMED = {
    "surecast_retries": "surecast_upload_retries_total",
    "surecast_destination_waiting_files": "surecast_destination_backlog_files",
    "surecast_destination_last_success_timestamp": "surecast_destination_last_success_timestamp_seconds",
}


class SurecastCollector(Collector):
    """Reads the figures on each scrape; nothing is cached between scrapes."""

    def __init__(
        self,
        spool_dir: Path,
        redis_client: redis.Redis,
        queue: str,
        clock: Callable[[], float] = time.time,
        settings: Settings | None = None,
    ):
        self.spool_dir = spool_dir
        self.redis = redis_client
        self.queue = queue
        self.clock = clock
        self.settings = settings  # with backups: figures per destination too

    def collect(self) -> Iterator[Metric]:
        journal = Journal(self.spool_dir)
        try:
            status = collect_status(journal, self.redis, self.queue, self.clock)
            last_success = journal.latest_success_at()
        finally:
            journal.close()
        files = GaugeMetricFamily("surecast_files", "Files in the journal by state", labels=["state"])
        for state, count in status["files"].items():
            files.add_metric([state], count)
        yield files
        yield _gauge("surecast_backlog_files", "Files not yet verified in the bucket", status["waiting_files"])
        yield _gauge("surecast_backlog_bytes", "Bytes not yet verified in the bucket", status["waiting_bytes"])
        yield _gauge(
            "surecast_oldest_unverified_seconds",
            "Age of the oldest file not yet verified",
            status["oldest_unverified_age_seconds"] or 0,
        )
        yield _counter("surecast_upload_retries_total", "Upload retries recorded in the journal", status["retries"])
        yield _counter(
            "surecast_integrity_reuploads_total",
            "Uploads re-sent after a failed integrity test",
            status["integrity_reuploads"],
        )
        yield _deprecated("surecast_retries", status["retries"])
        yield _gauge(
            "surecast_last_success_timestamp_seconds",
            "When a file was last verified in the bucket (Unix time; 0: never)",
            last_success,
        )
        yield _gauge(
            "surecast_failed_files", "Files failed permanently, waiting for retry-failed", len(status["failed"])
        )
        encoder = status.get("encoder") or {}
        paused = bool(encoder.get("recording_paused_since")) and encoder.get("state") != "stopped"
        yield _gauge("surecast_recording_paused", "1 while recording is paused: the spool reached its reserve", paused)
        refused = (encoder.get("refused_pushes") or {}).get("count") or 0
        yield CounterMetricFamily(
            "surecast_ingest_refused_pushes", "Pushes the ingest gate refused for a wrong stream key", value=refused
        )
        running = bool(encoder) and encoder.get("state") != "stopped"
        if running and encoder.get("speed") is not None:
            yield _gauge(
                "surecast_encoder_speed_ratio",
                "Seconds of media the encoder makes per second of wall time (below 1: it falls behind)",
                encoder["speed"],
            )
        yield _gauge(
            "surecast_encoder_slow",
            "1 while the encoder is slower than real time",
            bool(running and encoder.get("slow_since")),
        )
        yield _gauge(
            "surecast_encoder_source_lost",
            "1 while FFmpeg runs but makes nothing from its source (OBS stopped, a cable out)",
            bool(running and encoder.get("source_lost_since")),
        )
        restarts = int(encoder.get("ffmpeg_restarts") or 0)
        yield _counter("surecast_ffmpeg_restarts_total", "Times the encoder restarted FFmpeg in this run", restarts)
        depth = status["queue_depth"]
        yield _gauge("surecast_redis_up", "Whether Redis answered", 0 if depth is None else 1)
        if depth is not None:
            yield _gauge("surecast_queue_depth", "Upload tasks waiting in Redis", depth)
        lag = GaugeMetricFamily(
            "surecast_live_edge_lag_seconds",
            "How far the remote live playlist trails the encoder",
            labels=["rendition"],
        )
        for rendition, seconds in live_edge_lag(self.spool_dir, self.clock()).items():
            lag.add_metric([rendition], seconds)
        yield lag
        if self.settings is not None and self.settings.backups:
            yield from self._per_destination(self.settings)

    def _per_destination(self, settings: Settings) -> Iterator[Metric]:
        figures = destination_status(settings, self.redis, self.clock)
        names = [
            ("backlog_bytes", "waiting_bytes", "Bytes not yet verified"),
            ("backlog_files", "waiting_files", "Files not yet verified"),
        ]
        for field, key, text in names:
            family = GaugeMetricFamily(
                f"surecast_destination_{field}", f"{text}, per destination", labels=["destination"]
            )
            for name, d in figures.items():
                family.add_metric([name], d[key])
            yield family
        old_files = _deprecated("surecast_destination_waiting_files", labels=["destination"])
        success = GaugeMetricFamily(
            "surecast_destination_last_success_timestamp_seconds",
            "When a file was last verified there (Unix time; 0: never)",
            labels=["destination"],
        )
        old_success = _deprecated("surecast_destination_last_success_timestamp", labels=["destination"])
        lag = GaugeMetricFamily(
            "surecast_destination_live_edge_lag_seconds",
            "How far each destination's live playlist trails the encoder",
            labels=["destination", "rendition"],
        )
        for name, d in figures.items():
            success.add_metric([name], d["last_success_at"] or 0)
            old_success.add_metric([name], d["last_success_at"] or 0)
            old_files.add_metric([name], d["waiting_files"])
            for rendition, seconds in d["live_edge_lag"].items():
                lag.add_metric([name, rendition], seconds)
        yield success
        yield lag
        yield old_files
        yield old_success


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _deprecated(name: str, value: float | None = None, labels: list[str] | None = None) -> GaugeMetricFamily:
    """An old name, served as it was (a gauge) beside the one that replaced it."""
    text = f"Deprecated: use {RENAMED[name]}"
    if labels:
        return GaugeMetricFamily(name, text, labels=labels)
    return GaugeMetricFamily(name, text, value=value)


def metrics_app(collector: Collector, user: str, password: str) -> Callable[..., Iterable[bytes]]:
    """The WSGI app serving /metrics, behind HTTP basic auth when a user is set."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    app = make_wsgi_app(registry)
    if not user:
        return app
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not hmac.compare_digest(environ.get("HTTP_AUTHORIZATION", ""), expected):
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="surecast"')])
            return [b"authentication required\n"]
        body: Iterable[bytes] = app(environ, start_response)
        return body

    return guarded


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug(format, *args)


def serve_metrics(app: Callable[..., Iterable[bytes]], bind: str, port: int) -> None:
    """Serve ``app`` until interrupted."""
    with make_server(bind, port, app, handler_class=_QuietHandler) as server:
        log.info("metrics on http://%s:%d/metrics", bind, port)
        server.serve_forever()
