"""`surecast status` (and its live view, `--watch`) and `surecast metrics`: how delivery is going."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import redis

from core.settings import Settings, settings_or_exit
from journal.files import Journal
from surecast.commands import setup_logging


def _redis(settings: Settings, timeout: float) -> redis.Redis:
    url = settings.redis.url.get_secret_value()
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--watch", is_flag=True, help="A live view: backlog drain, live-edge lag, workers, failures.")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between refreshes.")
@click.option("--count", type=int, default=0, help="With --watch: stop after this many refreshes (0 = until Ctrl-C).")
def status(as_json: bool, watch: bool, interval: float, count: int) -> None:
    """Queue depth, backlog, oldest unverified file, failures and integrity re-uploads."""
    settings = settings_or_exit()
    from report.status import collect_status, destination_status, render_status

    client = _redis(settings, 2)
    journal = Journal(settings.spool.dir)
    if not watch:
        figures = collect_status(journal, client, settings.worker.queue)
        if settings.backups:
            figures["destinations"] = destination_status(settings, client)
        click.echo(json.dumps(figures, indent=2) if as_json else render_status(figures))
        return
    _watch(settings, journal, client, interval, count)


def _watch(settings: Settings, journal: Journal, client: redis.Redis, interval: float, count: int) -> None:
    from celery import Celery
    from kombu.exceptions import OperationalError

    from core.celeryconfig import celery_config
    from journal.figures import live_edge_lag
    from report.status import collect_status
    from report.watch import render_watch
    from report.workers import pool_sizes

    app = Celery("surecast-watch", set_as_current=False)
    app.conf.update(celery_config(settings, publish_forever=False))
    peak = 0
    shown = 0
    try:
        while True:
            figures = collect_status(journal, client, settings.worker.queue)
            peak = max(peak, figures["waiting_files"])
            try:
                workers: dict[str, int] | None = pool_sizes(app, timeout=1.0)
            except OperationalError:
                workers = None
            screen = render_watch(figures, live_edge_lag(Path(settings.spool.dir), time.time()), workers, peak)
            click.clear()
            click.echo(f"surecast status, {time.strftime('%H:%M:%S')} (Ctrl-C to leave)\n\n{screen}")
            shown += 1
            if count and shown >= count:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
    finally:
        app.close()


@click.command()
def metrics() -> None:
    """Serve surecast's own figures for Prometheus at /metrics (SURECAST_METRICS_BIND/_PORT)."""
    settings = settings_or_exit()
    setup_logging("INFO")
    from report.metrics import SurecastCollector, metrics_app, serve_metrics

    collector = SurecastCollector(
        Path(settings.spool.dir), _redis(settings, 2), settings.worker.queue, settings=settings
    )
    m = settings.metrics
    serve_metrics(metrics_app(collector, m.user, m.password.get_secret_value()), m.bind, m.port)
