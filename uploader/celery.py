"""The entry point of ``celery -A uploader worker`` (and ``celery -A uploader flower``): Celery looks for
``uploader.celery.app``. Like every entry point, it loads the settings once and exits on a bad one.

The app is the worker's, with its reconciler step (``stack.workers.worker_app``): the one import of this
package from a layer above, declared in pyproject.toml, because this module is Celery's entry point and
lives where `celery -A uploader` looks for it.
"""

from __future__ import annotations

from core.contract import PRIMARY
from core.settings import settings_or_exit
from stack.workers import worker_app

app = worker_app(settings_or_exit(), PRIMARY)
