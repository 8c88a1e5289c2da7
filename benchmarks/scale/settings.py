"""Settings the scale benchmark serves the app with: production-like (no debug), loopback, local files."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import VAR_DIR

SECRET_KEY = "scale-benchmark-only-not-secret"
DEBUG = False
_HERE = VAR_DIR / "scale"
MEDIA_ROOT = _HERE / "media"
AUDIT_LOG_ID = "scale-bench"
AUDIT_SIGNING_KEY_FILE = str(_HERE / "keys" / "checkpoint.key")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "ERROR")}}
