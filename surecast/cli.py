"""The `surecast` command: the entry point of every process; settings are loaded here, once."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from surecast.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"surecast: {exc}", err=True)
        sys.exit(2)


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group()
def main() -> None:
    """Live HLS from a venue PC to S3-compatible storage, with guaranteed delivery."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "-c",
    "--concurrency",
    type=int,
    default=None,
    help="Upload processes (default SURECAST_WORKER_CONCURRENCY).",
)
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.option("-n", "--hostname", default=None, help="Celery node name (default unique per process).")
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None, loglevel: str, hostname: str | None) -> None:
    """Start an upload worker (celery worker with the right app and options); extra args go to Celery."""
    settings = _settings()
    from uploader.celery import app

    argv = [
        "worker",
        f"--loglevel={loglevel}",
        "-E",
        f"--queues={settings.worker.queue}",
        f"--concurrency={concurrency or settings.worker.concurrency}",
        f"--hostname={hostname or f'uploader-{os.getpid()}@%h'}",
        *ctx.args,
    ]
    app.worker_main(argv)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key-prefix", default="sent", show_default=True, help="Folder under SURECAST_S3_PREFIX for the objects."
)
def send(files: tuple[Path, ...], key_prefix: str) -> None:
    """Hand existing files (a recording, a backup) to the guaranteed upload pipeline."""
    settings = _settings()
    _logging("WARNING")
    from uploader.publish import Publisher
    from uploader.send import send_files

    publisher = Publisher(settings)
    try:
        for row, published in send_files(settings, publisher, list(files), key_prefix):
            state = "queued" if published else "journaled (Redis unreachable; the reconciler will publish it)"
            click.echo(f"{row.path} -> s3://{settings.s3.bucket}/{row.key}: {state}")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        publisher.close()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--watch", is_flag=True, help="A live view: backlog drain, live-edge lag, workers, failures.")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between refreshes.")
@click.option("--count", type=int, default=0, help="With --watch: stop after this many refreshes (0 = until Ctrl-C).")
def status(as_json: bool, watch: bool, interval: float, count: int) -> None:
    """Queue depth, backlog, oldest unverified file, failures and integrity re-uploads."""
    settings = _settings()
    import redis

    from uploader.journal import Journal
    from uploader.status import collect_status, render_status

    client = redis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=2, socket_connect_timeout=2)
    journal = Journal(settings.spool.dir)
    if not watch:
        figures = collect_status(journal, client, settings.worker.queue)
        click.echo(json.dumps(figures, indent=2) if as_json else render_status(figures))
        return
    _watch(settings, journal, client, interval, count)


def _watch(settings: Settings, journal: Any, client: Any, interval: float, count: int) -> None:
    import time

    from celery import Celery
    from kombu.exceptions import OperationalError

    from surecast.metrics import live_edge_lag
    from surecast.scale import pool_sizes
    from surecast.watch import render_watch
    from uploader.celeryconfig import celery_config
    from uploader.status import collect_status

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


@main.command()
@click.option("--all", "everything", is_flag=True, help="Re-publish every unverified file, not only overdue ones.")
@click.option(
    "--every", type=click.IntRange(min=0), default=0, help="Keep going: a round every N seconds, until SIGTERM."
)
def reconcile(everything: bool, every: int) -> None:
    """Re-publish files not verified within their deadline; abort abandoned multipart uploads."""
    settings = _settings()
    _logging("INFO")
    if every:
        import signal
        import threading

        from uploader.reconcile import reconcile_forever

        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        interval = settings.model_copy(
            update={"upload": settings.upload.model_copy(update={"reconcile_interval": every})}
        )
        reconcile_forever(interval, stopped.wait)
        return
    from uploader.errors import UploadError
    from uploader.journal import Journal
    from uploader.publish import Publisher, publish_and_mark
    from uploader.reconcile import abort_abandoned_uploads, republish_overdue
    from uploader.s3client import make_s3_client

    journal = Journal(settings.spool.dir)
    publisher = Publisher(settings)
    if everything:
        rows = journal.unverified()
        count = publish_and_mark(journal, publisher, rows)
    else:
        import redis

        from uploader.status import messages_held

        client = redis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=5)
        try:
            held: int | None = messages_held(client, settings.worker.queue)
        except redis.RedisError as exc:
            raise click.ClickException(f"Redis unreachable, nothing re-published: {exc}") from None
        count = republish_overdue(journal, publisher, settings, held)
    click.echo(f"re-published {count} file(s)")
    try:
        aborted = abort_abandoned_uploads(make_s3_client(settings.s3), journal, settings)
        click.echo(f"aborted {aborted} abandoned multipart upload(s)")
    except UploadError as exc:
        click.echo(f"could not check for abandoned multipart uploads: {exc}", err=True)
    publisher.close()


@main.command()
def metrics() -> None:
    """Serve surecast's own figures for Prometheus at /metrics (SURECAST_METRICS_BIND/_PORT)."""
    settings = _settings()
    _logging("INFO")
    import redis

    from surecast.metrics import SurecastCollector, metrics_app, serve_metrics

    client = redis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=2, socket_connect_timeout=2)
    collector = SurecastCollector(Path(settings.spool.dir), client, settings.worker.queue)
    m = settings.metrics
    serve_metrics(metrics_app(collector, m.user, m.password.get_secret_value()), m.bind, m.port)


@main.command()
@click.argument("count", type=click.IntRange(min=1))
@click.option(
    "--mode",
    type=click.Choice(["auto", "compose", "celery"]),
    default="auto",
    show_default=True,
    help="compose: scale the uploader service; celery: grow/shrink the running workers' pools.",
)
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def scale(count: int, mode: str, project_dir: Path) -> None:
    """Set the number of upload workers to COUNT."""
    settings = _settings()
    from surecast.scale import compose_command, compose_running, scale_compose, scale_pools

    compose = compose_command() if mode in ("auto", "compose") else None
    if mode == "compose" and compose is None:
        raise click.ClickException("neither `docker compose` nor `docker-compose` is available")
    if compose and (mode == "compose" or compose_running(compose, project_dir)):
        scale_compose(compose, project_dir, count)
        click.echo(f"uploader service scaled to {count} container(s)")
        return
    from celery import Celery

    from uploader.celeryconfig import celery_config

    app = Celery("surecast-scale", set_as_current=False)
    app.conf.update(celery_config(settings, publish_forever=False))
    try:
        plan = scale_pools(app, count)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        app.close()
    click.echo(f"{count} upload process(es): " + ", ".join(f"{node} {n}" for node, n in plan.items()))


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--workers", type=int, default=None, help="Upload processes (default SURECAST_WORKER_CONCURRENCY).")
@click.option("--no-encoder", is_flag=True, help="Only deliver (e.g. files given to `surecast send`).")
@click.option("--no-flower", is_flag=True)
@click.option("--no-metrics", is_flag=True)
@click.argument("encode_args", nargs=-1, type=click.UNPROCESSED)
def up(workers: int | None, no_encoder: bool, no_flower: bool, no_metrics: bool, encode_args: tuple[str, ...]) -> None:
    """The stack without Docker: Redis if none answers, workers, encoder, Flower, metrics; Ctrl-C stops all.

    Arguments after the options go to `surecast encode`, e.g. `surecast up -- --duration 600`.
    """
    settings = _settings()
    _logging("INFO")
    from surecast.up import embedded_redis, flower_credentials, plan_children, run

    env = dict(os.environ)
    env["SURECAST_REDIS_URL"] = settings.redis.url.get_secret_value()
    spool = Path(settings.spool.dir)
    try:
        redis_child = embedded_redis(env["SURECAST_REDIS_URL"], spool / "redis")
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    if not no_flower and (creds := flower_credentials(env)):
        click.echo(
            f"Flower: http://127.0.0.1:5555 user {creds[0]} password {creds[1]} (set SURECAST_FLOWER_* to choose)"
        )
    children = plan_children(
        workers or settings.worker.concurrency, None if no_encoder else list(encode_args), not no_flower, not no_metrics
    )
    sys.exit(run(redis_child, children, env, spool / "logs"))


@main.command("retry-failed")
def retry_failed() -> None:
    """Re-queue every failed file (after fixing the cause: credentials, bucket, missing file)."""
    settings = _settings()
    from uploader.journal import Journal
    from uploader.publish import Publisher, publish_and_mark

    journal = Journal(settings.spool.dir)
    rows = journal.requeue_failed()
    publisher = Publisher(settings)
    count = publish_and_mark(journal, publisher, rows)
    publisher.close()
    click.echo(f"re-queued {len(rows)} failed file(s), published {count}")


from encoder.cli import encode, finish_event  # noqa: E402 - the encoder's commands, kept in its package

main.add_command(encode)
main.add_command(finish_event)

from surecast.bucket_setup import bucket_setup  # noqa: E402 - operations commands, each in its own module
from surecast.flower import flower  # noqa: E402

main.add_command(flower)
main.add_command(bucket_setup)

from client.cli import play, player  # noqa: E402 - the viewer's commands, kept in their package

main.add_command(play)
main.add_command(player)
