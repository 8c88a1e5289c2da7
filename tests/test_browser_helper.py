"""The browser helper leaves no database session behind: an open one would keep the test database
from being dropped when the session ends ("being accessed by other users")."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection

from tests.browser import browser_page

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def test_queries_made_while_the_browser_is_open_leave_no_session() -> None:
    before = _sessions()
    with browser_page():
        User.objects.create(username="inside")  # runs on a connection of Playwright's context
    assert _sessions() == before
    assert User.objects.filter(username="inside").exists()
