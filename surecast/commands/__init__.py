"""The commands of `surecast`, one module per area; each loads the settings once (``settings_or_exit``)
and passes them down.

    delivery.py   worker, send, reconcile, retry-failed
    status.py     status (and --watch), metrics
    encode.py     encode, finish-event
    play.py       play, player
    up.py         up (and the children it starts)
    stack.py      scale, flower, bucket-setup, embedded-s3
    console.py    console, fleet, credentials, share
    alerts.py     alerts test
"""

from __future__ import annotations

import logging
import sys
import threading

import click

from core.s3_section import S3Section
from core.version import surecast_version

# How the command line starts itself as a child process (a worker per destination, the stack's children);
# below the command line nothing starts it: it is called.
SURECAST = [sys.executable, "-m", "surecast"]


def setup_logging(level: str) -> None:
    """Log lines for an operator's terminal; configured here only, in the entry points. The first line
    names the version, so a log sent for help says what ran."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("surecast").info("surecast %s", surecast_version())


def report_preflight(s3: S3Section, background: bool = False) -> None:
    """Check the S3 destination and print one line per problem (or that it is ready); never stops anything.

    ``background`` runs it in a thread, so that nothing waits for it (the encoder must record at once).
    """

    def check() -> None:
        from uploader.preflight import preflight

        problems = preflight(s3)
        for problem in problems:
            click.echo(f"surecast: S3 preflight: {problem}", err=True)
        if not problems:
            click.echo(f"surecast: S3 preflight: s3://{s3.bucket}/{s3.prefix} is writable", err=True)

    if background:
        threading.Thread(target=check, name="surecast-preflight", daemon=True).start()
    else:
        check()
