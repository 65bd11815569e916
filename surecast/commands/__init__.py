"""The commands of `surecast`, one module per area; each loads the settings once (``settings_or_exit``)
and passes them down.

    delivery.py   worker, send, reconcile, retry-failed
    status.py     status (and --watch), metrics
    encode.py     encode, finish-event
    play.py       play, player
    stack.py      up, scale, flower, bucket-setup
"""

from __future__ import annotations

import logging


def setup_logging(level: str) -> None:
    """Log lines for an operator's terminal; configured here only, in the entry points."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
