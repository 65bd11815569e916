"""`surecast alerts test`: a test message to each SURECAST_ALERTS target, saying which failed."""

from __future__ import annotations

import sys

import click

from alerts.errors import AlertNotSent, BadAlertURL
from alerts.targets import AlertTarget, alert_targets
from core.settings import EXIT_BAD_SETTINGS, Settings, settings_or_exit


def targets_or_exit(settings: Settings) -> list[AlertTarget]:
    """The alert targets; a URL Apprise cannot use stops the start with one line, like any bad setting."""
    try:
        return alert_targets(settings.alerts)
    except BadAlertURL as exc:
        print(f"surecast: {exc}", file=sys.stderr)
        sys.exit(EXIT_BAD_SETTINGS)


@click.group()
def alerts() -> None:
    """Alerts to the people responsible (SURECAST_ALERTS: Apprise URLs)."""


@alerts.command("test")
def alerts_test() -> None:
    """Send a test message to each target now and say which failed (exit 1 if any did)."""
    settings = settings_or_exit()
    targets = targets_or_exit(settings)
    if not targets:
        raise click.ClickException("no alert targets: set SURECAST_ALERTS to one or more Apprise URLs")
    from alerts.messages import test_message
    from alerts.targets import send_alert

    title, body = test_message(settings.venue_name, settings.encoder.channel)
    failed = 0
    for target in targets:
        try:
            send_alert(target, title, body, "info")
        except AlertNotSent as exc:
            failed += 1
            click.echo(f"FAILED {exc}")
        else:
            click.echo(f"sent   {target.name}")
    if failed:
        click.echo(f"{failed} of {len(targets)} target(s) failed: check those URLs (and this PC's link)", err=True)
        sys.exit(1)
