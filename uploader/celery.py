"""The Celery app of the upload workers: ``celery -A uploader worker`` finds it here.

Settings are loaded once, when a worker imports this module.
"""

from __future__ import annotations

from celery import Celery

from surecast.settings import load_settings
from uploader.celeryconfig import celery_config
from uploader.periodic import ReconcileStep

settings = load_settings()

app = Celery("surecast")
app.conf.update(celery_config(settings, publish_forever=True))
app.conf.include = ["uploader.tasks"]
app.steps["worker"].add(ReconcileStep)
