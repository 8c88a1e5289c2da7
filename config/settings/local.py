"""The embedded default: SQLite and files under var/, eager tasks, a secret made once."""

from __future__ import annotations

import os
import secrets

from .base import *  # noqa: F403
from .base import VAR_DIR


def _secret_key() -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


VAR_DIR.mkdir(parents=True, exist_ok=True)
SECRET_KEY = _secret_key()
DEBUG = os.environ.get("DEBUG", "1") == "1"
