"""The Celery app. Tasks live in each app's tasks.py; periodic ones are listed here."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

app = Celery("modelgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "inventory-watch": {"task": "inventory.poll_watches", "schedule": crontab(minute="*/15")},
}
