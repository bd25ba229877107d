"""Test settings: the production module with test-friendly overrides.

DATABASE_URL / CELERY_BROKER_URL from the environment are honoured (CI runs on PostgreSQL and
Redis); without them the suite runs on SQLite in memory.
"""

import os
import tempfile

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

from governance.settings import *  # noqa: F403
from governance.settings import BASE_DIR, DATABASES, env

if "DATABASE_URL" not in os.environ:
    DATABASES["default"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
DATABASES["default"]["TEST"] = {"NAME": DATABASES["default"].get("TEST", {}).get("NAME")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MODELGATE_DOWNLOAD_DIR = tempfile.mkdtemp(prefix="modelgate-test-downloads-")
# Base models' Hub cards are read only by the tests that point HF_ENDPOINT at tests/hubserver.
MODELGATE_LICENSE_HUB_LOOKUP = False
MEDIA_ROOT = tempfile.mkdtemp(prefix="modelgate-test-media-")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
ALLOWED_HOSTS = ["*"]
STATICFILES_DIRS = [BASE_DIR / "static"]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
