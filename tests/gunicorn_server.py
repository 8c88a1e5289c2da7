"""The app served by gunicorn in a process of its own, as production serves it, and a plain HTTP GET of it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(database_url: str, **settings: str) -> Iterator[str]:
    """The app as production serves it, one synchronous worker so that every request reuses its connection;
    `settings` are environment variables for it (DJANGO_SETTINGS_MODULE is the tests' unless given)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE",)}
    env.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test", DB_CONN_MAX_AGE="600")
    env.update(settings)
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "config.wsgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stdout.read().decode() if proc.stdout else "gunicorn exited") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - a loopback server of the test's own
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
