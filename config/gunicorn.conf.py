"""How modelgov is served in production: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Every value can be set from the environment; the defaults are what the scale benchmark measures.
"""

from __future__ import annotations

import os

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
# Threaded workers keep connections alive between requests (API clients and the admin reuse them)
# and let one process wait on the database for one request while it computes another. Two threads
# do that; more only make requests take turns on the GIL (at 8 clients on 2 cores the p95 of the
# slowest pages was 37-42 ms with 2 threads against 47-81 ms with 4, measured A/B on one database).
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "2"))
keepalive = int(os.environ.get("WEB_KEEPALIVE", "30"))
loglevel = os.environ.get("WEB_LOG_LEVEL", "warning")
