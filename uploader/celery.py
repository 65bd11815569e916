"""The entry point of ``celery -A uploader worker`` (and ``celery -A uploader flower``): Celery looks for
``uploader.celery.app``. Like every entry point, it loads the settings once and exits on a bad one."""

from __future__ import annotations

from core.settings import settings_or_exit
from uploader.app import make_app

app = make_app(settings_or_exit())
