"""`surecast worker`, `send`, `reconcile` and `retry-failed`: the delivery side's commands."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from core.contract import PRIMARY
from core.settings import settings_or_exit
from core.version import surecast_version
from surecast.commands import SURECAST, report_preflight, setup_logging


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "-c",
    "--concurrency",
    type=int,
    default=None,
    help="Upload processes (default SURECAST_WORKER_CONCURRENCY).",
)
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.option("-n", "--hostname", default=None, help="Celery node name (default unique per process).")
@click.option("--destination", default=None, help="Serve this destination only (default: every one, a worker each).")
@click.pass_context
def worker(
    ctx: click.Context, concurrency: int | None, loglevel: str, hostname: str | None, destination: str | None
) -> None:
    """Start an upload worker (celery worker with the right app and options); extra args go to Celery."""
    settings = settings_or_exit()
    names = [d.name for d in settings.destinations()]
    if destination is None and len(names) > 1:
        from stack.workers import run_per_destination

        extra = [f"--loglevel={loglevel}", *([f"--concurrency={concurrency}"] if concurrency else []), *ctx.args]
        sys.exit(run_per_destination({name: [*SURECAST, "worker", "--destination", name, *extra] for name in names}))
    from stack.workers import worker_app

    try:
        served = settings.for_destination(destination or PRIMARY)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--destination") from None
    click.echo(f"surecast {surecast_version()}: upload worker of destination {served.destination}", err=True)
    report_preflight(served.s3)
    node = f"uploader-{served.destination}-{os.getpid()}@%h" if destination else f"uploader-{os.getpid()}@%h"
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        "-E",
        f"--queues={served.queue}",
        f"--concurrency={concurrency or settings.worker.concurrency}",
        f"--hostname={hostname or node}",
        *ctx.args,
    ]
    worker_app(settings, served.destination).worker_main(argv)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key-prefix", default="sent", show_default=True, help="Folder under SURECAST_S3_PREFIX for the objects."
)
@click.option("--wait", is_flag=True, help="Show progress (bytes verified, rate, time left) until all are verified.")
def send(files: tuple[Path, ...], key_prefix: str, wait: bool) -> None:
    """Hand existing files (a recording, a backup) to the guaranteed upload pipeline."""
    settings = settings_or_exit()
    setup_logging("WARNING")
    from uploader.send import follow, send_files

    keys = []
    try:
        for destination, bucket, row, published in send_files(settings, list(files), key_prefix):
            state = "queued" if published else "journaled (Redis unreachable; the reconciler will publish it)"
            where = "" if destination == PRIMARY else f" ({destination})"
            click.echo(f"{row.path} -> s3://{bucket}/{row.key}{where}: {state}")
            if destination == PRIMARY:
                keys.append(row.key)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if wait and not follow(settings, keys, lambda line: click.echo(line, err=True)):
        raise click.ClickException("a file failed; `surecast status` says why")


@click.command()
@click.option("--all", "everything", is_flag=True, help="Re-publish every unverified file, not only lost ones.")
@click.option(
    "--every",
    type=click.IntRange(min=0),
    default=0,
    help="Keep going (any N above 0): the reconciler beside a worker, until SIGTERM.",
)
@click.option("--destination", default=PRIMARY, show_default=True, help="Whose journal and queue.")
def reconcile(everything: bool, every: int, destination: str) -> None:
    """Re-publish files Redis lost or whose worker died; abort abandoned multipart uploads."""
    loaded = settings_or_exit()
    try:
        settings = loaded.for_destination(destination)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--destination") from None
    setup_logging("INFO")
    if every:
        import signal
        import threading

        from stack.reconciler import reconcile_forever

        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        reconcile_forever(loaded, destination, stopped.wait)
        return
    import redis

    from core.publisher import Publisher
    from journal.files import Journal
    from stack.reconciler import Reconciler, abort_abandoned_uploads
    from uploader.errors import UploadError
    from uploader.queues import messages_held
    from uploader.s3client import make_s3_client

    journal = Journal(settings.spool.dir, destination=settings.destination)
    publisher = Publisher(settings)
    if everything:
        journal.republish_all_unverified()
        count = journal.publish_due(publisher.publish)
    else:
        client = redis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=5)
        try:
            held: int | None = messages_held(client, settings.queue)
        except redis.RedisError as exc:
            raise click.ClickException(f"Redis unreachable, nothing re-published: {exc}") from None
        count = Reconciler(journal, publisher, settings).round(held).published
    click.echo(f"re-published {count} file(s)")
    if publisher.broker_error:
        click.echo(f"Redis unreachable, the others wait in the journal: {publisher.broker_error}", err=True)
    try:
        aborted = abort_abandoned_uploads(make_s3_client(settings.s3), journal, settings)
        click.echo(f"aborted {aborted} abandoned multipart upload(s)")
    except UploadError as exc:
        click.echo(f"could not check for abandoned multipart uploads: {exc}", err=True)
    publisher.close()


@click.command("retry-failed")
def retry_failed() -> None:
    """Re-queue every failed file now, for every destination (they are also tried again by themselves)."""
    settings = settings_or_exit()
    from core.publisher import Publisher
    from journal.files import Journal

    count = published = 0
    unreachable = None
    for found in settings.destinations():
        served = settings.for_destination(found.name)
        journal = Journal(settings.spool.dir, destination=found.name)
        count += journal.requeue_failed()
        publisher = Publisher(served)
        published += journal.publish_due(publisher.publish)
        unreachable = unreachable or publisher.broker_error
        publisher.close()
        journal.close()
    click.echo(f"re-queued {count} failed file(s), published {published}")
    if unreachable:
        click.echo(f"Redis unreachable, the others wait in the journal for the reconciler: {unreachable}", err=True)
