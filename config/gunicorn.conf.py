"""How modelgov is served in production: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Every value can be set from the environment; the defaults are what the scale benchmark measures.
"""

from __future__ import annotations

import os
import sys
from typing import Any

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
# Threaded workers keep connections alive between requests (API clients and the admin reuse them)
# and let one process wait on the database for one request while it computes another.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = int(os.environ.get("WEB_KEEPALIVE", "30"))
# The threads of a worker share the GIL: a request whose query has returned waits until the thread
# that is computing gives it up, which Python asks for only every 5 ms by default. Every request makes
# several queries, so under load those waits add up to most of the tail latency; a shorter interval
# keeps each wait short.
gil_switch_interval = float(os.environ.get("WEB_GIL_SWITCH_INTERVAL", "0.001"))
loglevel = os.environ.get("WEB_LOG_LEVEL", "warning")


def post_worker_init(worker: Any) -> None:
    sys.setswitchinterval(gil_switch_interval)
