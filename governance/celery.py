"""The Celery app. Tasks live in each app's tasks.py (core.tasks.task).

The beat schedule is settings.CELERY_BEAT_SCHEDULE.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

app = Celery("modelgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
