"""Production settings (DEBUG off) for the page benchmark, without the collectstatic manifest."""

from governance.settings import *  # noqa: F403
from governance.settings import STORAGES

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
