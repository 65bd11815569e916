"""`python -m stack.flower_guard -A uploader flower ...`: Flower with its /metrics and /healthcheck
behind the same basic auth as every other page (Flower 2.2 serves those two to anyone), then Celery's
own command line. `surecast flower` runs Flower this way."""

from __future__ import annotations

import sys

from celery.__main__ import main as celery_main
from flower.views import monitor
from tornado import web


def guard_open_pages() -> None:
    """Require Flower's login on the two pages it leaves open: without one, 401 like the rest."""
    for handler in (monitor.Metrics, monitor.Healthcheck):
        handler.get = web.authenticated(handler.get)


if __name__ == "__main__":
    guard_open_pages()
    sys.argv[0] = "celery"
    sys.exit(celery_main())
