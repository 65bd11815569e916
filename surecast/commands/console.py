"""`surecast console` (the volunteer's browser tab), `surecast fleet` (every venue on one page, and the alert
when one falls silent), `surecast credentials` (the stack's login) and `surecast share` (the viewers' link)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from core.service_settings import LOOPBACK_ADDRESSES
from core.settings import Settings, settings_or_exit
from surecast.commands import setup_logging


def page_login(settings: Settings, page: str, bind: str, variables: str = "SURECAST_CONSOLE") -> tuple[str, str]:
    """A page's credentials: SURECAST_CONSOLE_USER/_PASSWORD, else the stack's generated ones; exits if none."""
    from stack.credentials import web_login

    try:
        return web_login(settings)
    except OSError as exc:
        where = "on this PC only" if bind in LOOPBACK_ADDRESSES else f"on {bind}"
        click.echo(
            f"surecast: the {page} needs credentials and has none ({exc}); set {variables}_USER and "
            f"{variables}_PASSWORD, or make the spool writable. It serves {where}, never without a login.",
            err=True,
        )
        sys.exit(2)


def fleet_login(settings: Settings) -> tuple[str, str]:
    """The fleet page's credentials: SURECAST_FLEET_USER/_PASSWORD, else the stack's generated ones."""
    if settings.fleet.user:
        return settings.fleet.user, settings.fleet.password.get_secret_value()
    return page_login(settings, "fleet page", settings.fleet.bind, "SURECAST_FLEET")


@click.command()
def console() -> None:
    """The live console: preview, one big state, 30 minutes of plots, retry and finish buttons; it also
    sends the venue's alerts (SURECAST_ALERTS) and its heartbeat for the fleet page."""
    settings = settings_or_exit()
    setup_logging("INFO")
    from surecast.commands.alerts import targets_or_exit

    targets = targets_or_exit(settings)
    user, password = page_login(settings, "console", settings.console.bind)
    from console.actions import Actions
    from console.alerting import VenueAlerts
    from console.backend import LiveBackend
    from console.sampler import Sampler
    from console.server import console_app, run_console
    from report.workers import WorkerProbe
    from stack.credentials import service_urls

    workers = WorkerProbe(settings)
    venue_alerts = VenueAlerts(settings, targets)
    venue_alerts.start()
    sampler = Sampler(settings, workers, observer=venue_alerts)
    actions = Actions(settings)
    section = settings.console

    def ready(port: int) -> None:
        url = service_urls(settings.model_copy(update={"console": section.model_copy(update={"port": port})}))
        click.echo(f"surecast console: {url['console']} (user {user}; `surecast credentials` shows the password)")

    workers.start()
    sampler.start()
    try:
        app = console_app(LiveBackend(settings, sampler, actions), user, password)
        run_console(app, section.bind, section.port, ready)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {section.bind}:{section.port}: {exc.strerror or exc}") from None
    finally:
        sampler.stop()
        workers.stop()
        actions.close()


@click.command()
@click.option("--forget", metavar="VENUE", help="Remove a venue that will not come back from the page, then exit.")
def fleet(forget: str | None) -> None:
    """Every venue on one page (its state, lag, backlog, disk, workers, viewers' link), behind a login; alerts
    when a venue falls silent (OFFLINE) and when it returns."""
    settings = settings_or_exit()
    setup_logging("INFO")
    if forget:
        _forget(settings, forget)
        return
    from surecast.commands.alerts import targets_or_exit

    targets = targets_or_exit(settings)
    from console.fleet import FleetWatch
    from console.fleet_server import fleet_app
    from console.server import run_console

    user, password = fleet_login(settings)
    watch = FleetWatch(settings, targets)
    section = settings.fleet

    def ready(port: int) -> None:
        host = "127.0.0.1" if section.bind in ("", "0.0.0.0", "::") else section.bind
        click.echo(f"surecast fleet: http://{host}:{port}/ (user {user}; `surecast credentials` shows the password)")

    watch.start()
    try:
        run_console(fleet_app(watch, user, password), section.bind, section.port, ready)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {section.bind}:{section.port}: {exc.strerror or exc}") from None
    finally:
        watch.stop()


def _forget(settings: Settings, venue: str) -> None:
    import redis

    from alerts.heartbeat import forget

    client = redis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5)
    try:
        found = forget(client, venue)
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot reach Redis: {exc}") from None
    finally:
        client.close()
    click.echo(f"surecast fleet: {venue} {'forgotten' if found else 'was not on the page'}")


@click.command()
def credentials() -> None:
    """Print the stack's generated login (console and Flower), their addresses, and the ingest key OBS pushes with."""
    settings = settings_or_exit()
    from stack.credentials import credentials_message, service_urls, stack_credentials, stack_ingest_key

    try:
        user, password, _ = stack_credentials(Path(settings.spool.dir))
        key, _ = stack_ingest_key(Path(settings.spool.dir))
    except OSError as exc:  # CredentialsError included
        raise click.ClickException(str(exc)) from None
    click.echo(credentials_message(user, password, service_urls(settings), key))
    named = _source_names_key(settings.encoder.source)
    if named or settings.encoder.ingest_key.get_secret_value():
        instead = "the key SURECAST_ENCODER_SOURCE names" if named else "SURECAST_ENCODER_INGEST_KEY"
        click.echo(f"(the encoder's listener uses {instead} instead of the ingest key)")
    if settings.console.user:
        click.echo(f"(the console uses SURECAST_CONSOLE_USER={settings.console.user} and its password instead)")
    if settings.flower.user:
        click.echo(f"(Flower uses SURECAST_FLOWER_USER={settings.flower.user} and its password instead)")


@click.command()
@click.option("--qr", is_flag=True, help="Also draw the link as a QR code in the terminal.")
def share(qr: bool) -> None:
    """Print the link to share with viewers (the page in the bucket) and a snippet that embeds it in a website."""
    settings = settings_or_exit()
    from console.share import qr_text, share_info
    from core.share import link_origin

    info = share_info(settings)
    click.echo(f"The link to share with viewers:\n  {info['url']}")
    click.echo(f"  {link_origin(settings.s3)}")
    click.echo(f"To show the page in the church's website, paste this into it:\n  {info['iframe']}")
    for other in info["others"]:
        click.echo(f"The same page on {other['destination']}, if the main destination is down:\n  {other['url']}")
    if qr:
        click.echo(qr_text(info["url"]))
    click.echo(
        "The page goes into the bucket when an event starts and with `surecast bucket-setup`; viewers need "
        "anonymous read on the prefix (`surecast bucket-setup --public-read`, or a CDN)."
    )


def _source_names_key(spec: str) -> bool:
    from encoder.ingest_keys import listener_of
    from encoder.sources import parse_source

    try:
        listener = listener_of(parse_source(spec, "none", 2, 2, 1))  # the picture size means nothing here
    except ValueError:
        return False
    return listener is not None and bool(listener.key)
