"""Settings shared by every environment, read from the environment."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("MODELGOV_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float, *, low: float, high: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc
    if not low <= number <= high:  # also refuses nan
        raise ImproperlyConfigured(f"{name} must be from {low} to {high}, got {value!r}")
    return number


DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files of our own, never from a CDN
    "axes",
    "audit",
    "registry",
    "reports",
    "governance",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, the API docs') from the app server itself: nothing else serves /static/.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.RejectNulMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.ActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login refused by the lockout into its answer (config/lockout.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_env() -> dict:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
    config: dict = dj_database_url.parse(  # type: ignore[assignment]
        url, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE takes the write lock when a transaction starts, so two writers never
        # both read the audit chain's head and then race to extend it.
        config.setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 30})
    return config


DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Password logins (django-axes, config/lockout.py): after LOGIN_MAX_FAILURES failures a username is locked for
# LOGIN_LOCK_SECONDS, for the client address they came from only, so that a stranger cannot lock anyone else out.
# The failures are rows in the database, shared by every worker; no log of successful logins is kept there (the
# audit log has them). Each failure, lockout and lifted lock is an audit entry (audit/auth_events.py).
AUTHENTICATION_BACKENDS = ["config.lockout.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_MAX_FAILURES", 5)
AXES_COOLOFF_TIME = dt.timedelta(seconds=env_int("LOGIN_LOCK_SECONDS", 900))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# A lock ends LOGIN_LOCK_SECONDS after it began: more tries while locked do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# How many reverse proxies in front of the server append to X-Forwarded-For (config/client_ip.py). 0: the
# connection's peer is the client. Behind a proxy, set it, or every client shares the proxy's address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The app server serves /static/ itself (WhiteNoise), straight from the installed packages: no collectstatic
# step, no CDN, and the API docs work offline. STATIC_ROOT is only for `collectstatic` into a directory that a
# proxy in front serves instead.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True

# Content-Security-Policy on every answer (django-csp): scripts, styles, fonts, images and requests from this
# origin only; a page that needs an inline <style> carries its nonce (the API docs' templates). ReDoc's page
# relaxes styles and workers for itself (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# Files: local disk under var/ by default; any S3-compatible store when a bucket is named. Either way
# write-once (config/storages.py): whole files only, never replaced, never deleted.
AWS_STORAGE_BUCKET_NAME = os.environ.get("S3_BUCKET", "")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None
    AWS_S3_REGION_NAME = os.environ.get("S3_REGION") or None
    AWS_DEFAULT_ACL = None
    AWS_S3_FILE_OVERWRITE = False
    _default_storage = {"BACKEND": "config.storages_s3.WriteOnceS3Storage"}
else:
    _default_storage = {"BACKEND": "config.storages.WriteOnceFileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads are streamed to disk, never held whole in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.tokens.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's own JSON parser lets a too-deeply nested body escape as RecursionError (a 500).
    "DEFAULT_PARSER_CLASSES": [
        "config.json_input.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # Unknown query parameters are a 400 naming them (config/query_params.py), before any filter reads them.
    "DEFAULT_FILTER_BACKENDS": ["config.query_params.KnownParamsOnly",
                                "django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "modelgov API",
    "DESCRIPTION": "Model registry, governance workflow, evidence reports and the verifiable audit log.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are public: they describe the API, they do not expose data.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.add_error_responses",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge fetched from the public validator service.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {
        "ReportStatusEnum": "reports.models.ReportStatus",
        "RequestStatusEnum": "governance.models.request.RequestStatus",
        "EvaluationStatusEnum": "monitoring.models.EvaluationStatus",
    },
}

# Celery: with no broker, tasks run eagerly in-process (the embedded default).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task whose worker died unacknowledged is delivered again after the visibility timeout (Redis).
# Workers look for such tasks every restore interval; kombu >= 5.7 by default scans only every 10th
# look (about every 100 s), so a short visibility timeout would still wait that long: scan every look.
_visibility_timeout = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1, "interval_start": 0, "interval_step": 0.2,
    "visibility_timeout": _visibility_timeout,
    "unacked_restore_interval": max(1, min(60, _visibility_timeout)),
    "unacked_restore_throttle": 1,
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "modelgov@localhost")

# Registry
REGISTRY_MAX_ARTIFACT_BYTES = env_int("REGISTRY_MAX_ARTIFACT_BYTES", 512 * 1024 * 1024)
REGISTRY_MAX_DATASET_BYTES = env_int("REGISTRY_MAX_DATASET_BYTES", 512 * 1024 * 1024)
# A dataset wider than this is refused from its header, before the rest of the file is read.
REGISTRY_MAX_DATASET_COLUMNS = env_int("REGISTRY_MAX_DATASET_COLUMNS", 2000)
# A production batch's file (monitoring/batches.py), and its outcomes'.
MONITORING_MAX_BATCH_BYTES = env_int("MONITORING_MAX_BATCH_BYTES", 2 * 1024 * 1024 * 1024)
# A batch of more rows than this is measured in parts of about this many rows, by a task each (monitoring.parts).
MONITORING_PART_ROWS = env_int("MONITORING_PART_ROWS", 250_000)
# A Parquet batch's row groups are decoded one at a time: each may decompress to at most this many bytes.
MONITORING_MAX_ROW_GROUP_BYTES = env_int("MONITORING_MAX_ROW_GROUP_BYTES", 512 * 1024 * 1024)
# Loading a pickle or joblib file runs arbitrary code: refused unless explicitly trusted, and even then loaded
# only in the sandbox.
REGISTRY_TRUST_PICKLE = env_bool("REGISTRY_TRUST_PICKLE", False)
# skops types trusted beyond registry/sandbox/skops_types.py's list: fully qualified names, comma-separated.
# A name in a module of code (builtins functions, operator, functools, importlib, os, subprocess, types, ...)
# is refused at startup. Every report names the digest of the list in force.
REGISTRY_SKOPS_EXTRA_TRUSTED_TYPES = [t.strip() for t in os.environ.get(
    "REGISTRY_SKOPS_EXTRA_TRUSTED_TYPES", "").split(",") if t.strip()]

# The sandbox (registry/sandbox/): every artifact is loaded and run in a short-lived child process, never in a
# web or worker process. Limits per child; the wall clock per job.
REGISTRY_SANDBOX_MEMORY_MB = env_int("REGISTRY_SANDBOX_MEMORY_MB", 4096)  # address space (RLIMIT_AS)
REGISTRY_SANDBOX_CPU_SECONDS = env_int("REGISTRY_SANDBOX_CPU_SECONDS", 600)
REGISTRY_SANDBOX_TIMEOUT_SECONDS = env_int("REGISTRY_SANDBOX_TIMEOUT_SECONDS", 600)
# Registration waits for its check in the request: a shorter bound.
REGISTRY_SANDBOX_PROBE_TIMEOUT_SECONDS = env_int("REGISTRY_SANDBOX_PROBE_TIMEOUT_SECONDS", 120)
REGISTRY_SANDBOX_MAX_OPEN_FILES = env_int("REGISTRY_SANDBOX_MAX_OPEN_FILES", 256)
REGISTRY_SANDBOX_MAX_FILE_MB = env_int("REGISTRY_SANDBOX_MAX_FILE_MB", 64)
REGISTRY_SANDBOX_MAX_RESULT_MB = env_int("REGISTRY_SANDBOX_MAX_RESULT_MB", 512)
# The user a child becomes when the server runs as root.
REGISTRY_SANDBOX_USER = os.environ.get("REGISTRY_SANDBOX_USER", "nobody")
# Refuse to run a child this machine cannot isolate (no network namespace; neither another user nor Landlock).
# On here and in production; local and test settings turn it off and record what applied instead.
REGISTRY_SANDBOX_REQUIRE_ISOLATION = env_bool("REGISTRY_SANDBOX_REQUIRE_ISOLATION", True)

# Reports
# A declared metric (the developer's claim) that differs from the product's measurement by more than this
# (absolute, e.g. ROC AUC 0.80 declared, 0.77 measured) is flagged on the API, the review page and in reports.
METRIC_CLAIM_TOLERANCE = env_float("METRIC_CLAIM_TOLERANCE", 0.02, low=0.0, high=1.0)

# Audit log
AUDIT_LOG_ID = os.environ.get("AUDIT_LOG_ID", "")
AUDIT_SIGNING_KEY_FILE = os.environ.get("AUDIT_SIGNING_KEY_FILE", str(VAR_DIR / "keys" / "checkpoint.key"))
AUDIT_SIGNING_KEY = os.environ.get("AUDIT_SIGNING_KEY", "")
AUDIT_CHECKPOINT_EVERY_ENTRIES = env_int("AUDIT_CHECKPOINT_EVERY_ENTRIES", 1000)
AUDIT_CHECKPOINT_EVERY_MINUTES = env_int("AUDIT_CHECKPOINT_EVERY_MINUTES", 10)
AUDIT_CHECKPOINT_MIRROR_DIR = os.environ.get("AUDIT_CHECKPOINT_MIRROR_DIR", "")
AUDIT_CHECKPOINT_MIRROR_S3_BUCKET = os.environ.get("AUDIT_CHECKPOINT_MIRROR_S3_BUCKET", "")
# How many of the latest checkpoints each scheduled run makes sure the mirrors hold.
AUDIT_CHECKPOINT_MIRROR_CATCH_UP = env_int("AUDIT_CHECKPOINT_MIRROR_CATCH_UP", 50)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}


def require_env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in the environment under production settings")
    return value

# Scheduled jobs (celery beat). Without a broker, run the same jobs with the management commands:
# `manage.py audit checkpoint --if-due`, `manage.py governance expire`, `manage.py governance revalidate`.
CELERY_BEAT_SCHEDULE = {
    "audit-checkpoint": {"task": "audit.checkpoint_if_due", "schedule": 60.0},
    "governance-expire": {"task": "governance.expire_requests", "schedule": 3600.0},
    "governance-revalidate": {"task": "governance.open_revalidations", "schedule": 6 * 3600.0},
    # Windows of production batches on each plan's cadence, and versions monitoring has not heard from.
    "monitoring-windows": {"task": "monitoring.evaluate_due", "schedule": 3600.0},
}
