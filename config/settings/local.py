"""The embedded default: SQLite and files under var/, eager tasks, a secret made once."""

from __future__ import annotations

import os
import secrets

from config.files import write_once

from .base import *  # noqa: F403
from .base import VAR_DIR, env_bool


def _secret_key() -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = VAR_DIR / "secret_key"
    write_once(path, secrets.token_urlsafe(50).encode(), 0o600)
    return path.read_text().strip()


VAR_DIR.mkdir(parents=True, exist_ok=True)
SECRET_KEY = _secret_key()
DEBUG = os.environ.get("DEBUG", "1") == "1"
# A developer's machine or a CI container may not allow namespaces: the sandbox still runs, and each
# registration and report records the isolation that applied.
REGISTRY_SANDBOX_REQUIRE_ISOLATION = env_bool("REGISTRY_SANDBOX_REQUIRE_ISOLATION", False)
