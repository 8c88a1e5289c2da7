"""Migrations hold their SQL and code frozen: they run the same whatever the code of the day, and a SQLite install
migrates without psycopg (issue 21)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit import merkle

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = sorted(path for app in ("audit", "registry", "reports", "governance", "monitoring")
                    for path in (ROOT / app / "migrations").glob("0*.py"))


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.stem)
def test_no_migration_runs_todays_code(path: Path) -> None:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{a.name}" for a in node.names}
    assert not {name for name in imported if "pg_append" in name or name.startswith("psycopg")}
    # Nor today's code of any other product module: only the frozen SQL beside the migrations.
    product = ("audit", "registry", "reports", "governance", "monitoring", "config")
    frozen = f"{path.parent.parent.name}.migrations._"
    assert not {name for name in imported if name.split(".")[0] in product and not name.startswith(frozen)}, imported


@pytest.mark.slow
def test_sqlite_migrates_without_psycopg(tmp_path: Path) -> None:
    # A fresh SQLite database migrated by a process in which psycopg cannot be imported.
    code = ("import sys; sys.modules['psycopg'] = None; sys.modules['psycopg2'] = None; "
            "import django; django.setup(); from django.core.management import call_command; "
            "call_command('migrate', verbosity=0); print('migrated')")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "migrated", out.stderr[-3000:]


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_function_in_force_is_the_last_migrations() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p "
                       "WHERE p.proname = 'audit_append'")
        functions = cursor.fetchall()
    # One signature only: 0008 dropped the text[] one of 0006 and 0007.
    assert [name for name, _ in functions] == ["audit_append(timestamp with time zone,json)"]
    # The level from which Merkle nodes are stored is written into the frozen SQL; the readers must agree with it.
    assert f"IF v_level >= {merkle.STORED_LEVEL} THEN" in functions[0][1]
