"""Run a function in several OS processes against the test database, to test real concurrency."""

from __future__ import annotations

import importlib
import multiprocessing
import os
from typing import Any

from django.db import connection


def _child(target: str, index: int, args: tuple[Any, ...], db_url: str, barrier: Any, results: Any) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()
    module_name, func_name = target.rsplit(":", 1)
    func = getattr(importlib.import_module(module_name), func_name)
    barrier.wait(timeout=60)
    try:
        results.put((index, "ok", func(index, *args)))
    except Exception as exc:
        results.put((index, "error", f"{type(exc).__name__}: {exc}"))


def database_url() -> str:
    """The URL of the database the tests are using (pytest-django renames it test_<name>)."""
    s = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("multi-process tests need PostgreSQL")
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def run_processes(target: str, count: int, *args: Any, timeout: float = 300) -> list[tuple[int, str, Any]]:
    """Start `count` processes that each call `module:function(index, *args)` at the same moment."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(count)
    results = ctx.Queue()
    url = database_url()
    procs = [ctx.Process(target=_child, args=(target, i, args, url, barrier, results)) for i in range(count)]
    for p in procs:
        p.start()
    out = [results.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return sorted(out)
