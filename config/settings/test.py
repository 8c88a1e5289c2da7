"""Settings for the test suite: the embedded default unless DATABASE_URL says otherwise."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env_bool

SECRET_KEY = "test-only-not-secret"  # noqa: S105
DEBUG = False
_TMP = Path(tempfile.mkdtemp(prefix="modelgov-test-"))
# A worker process started by a test shares the test's files through this variable.
MEDIA_ROOT = Path(os.environ.get("MODELGOV_TEST_MEDIA") or _TMP / "media")
AUDIT_SIGNING_KEY_FILE = str(_TMP / "keys" / "checkpoint.key")
AUDIT_LOG_ID = "test-log"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests run tasks in-process; the test that needs a real worker on Redis starts one and
# switches eager mode off for itself.
CELERY_TASK_ALWAYS_EAGER = True
# A developer's machine or a CI container may not allow namespaces: the sandbox still runs, and each
# registration and report records the isolation that applied.
REGISTRY_SANDBOX_REQUIRE_ISOLATION = env_bool("REGISTRY_SANDBOX_REQUIRE_ISOLATION", False)
