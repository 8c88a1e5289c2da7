"""The Celery application; with no broker configured tasks run eagerly in-process."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("modelgov")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
