"""The Celery app of the upload workers, made from settings by ``make_app``.

A worker runs it with its reconciler beside it: ``stack.workers.worker_app`` adds that step, for
``surecast worker`` and for ``celery -A uploader worker`` (``uploader/celery.py``). The tasks read the
settings and the destination from the app.
"""

from __future__ import annotations

from celery import Celery

from core.celeryconfig import celery_config
from core.contract import PRIMARY
from core.settings import Settings
from uploader.tasks import register_upload_task


class UploaderApp(Celery):
    """A Celery app carrying the settings (as loaded) its task and boot steps read, and the destination
    whose queue its worker serves (a task delivers to whichever destination its payload names)."""

    def __init__(self, settings: Settings, destination: str) -> None:
        super().__init__("surecast")
        self.settings = settings
        self.destination = destination


def make_app(settings: Settings, destination: str = PRIMARY) -> UploaderApp:
    """The workers' app: shared Celery config (publishing retries waits for Redis) and the upload task."""
    app = UploaderApp(settings, destination)
    app.conf.update(celery_config(settings, publish_forever=True))
    register_upload_task(app, settings, destination)
    return app
