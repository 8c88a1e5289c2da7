"""Every answer under /api/ is JSON: an unknown path a 404, a lost database a 503 with Retry-After, never HTML.

The lost database is real: a server whose database port is closed, and on PostgreSQL a server whose
connection another session terminates between two requests (a failover or a restart does the same).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tests.gunicorn_server import get, gunicorn

UNKNOWN_API_PATHS = [
    "/api/v1/nope/", "/api/", "/api/v2/models/", "/api/v1/models/pd/nope/", "/api/v1/versions/abc/",
    "/api/v1/versions/1.5/", "/api/v1/promotion-requests/%ff/", "/api/v1/reports/%E2%80%AE/", "/api/docs/x/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", UNKNOWN_API_PATHS)
def test_an_unknown_api_path_is_a_json_404(make_user: Any, settings: Any, path: str, debug: bool) -> None:
    settings.DEBUG = debug  # Django's debug 404 page is HTML: the API answers JSON either way
    client = Client()
    client.force_login(make_user("dev", "model developer"))
    resp = client.get(path)
    assert resp.status_code == 404
    assert resp["Content-Type"] == "application/json"
    assert resp.json()["detail"]


@pytest.mark.django_db
def test_an_api_path_without_its_slash_is_still_redirected_and_a_page_outside_the_api_stays_html(
        client: Client) -> None:
    assert client.get("/api/v1/models")["Location"] == "/api/v1/models/"
    resp = client.get("/no-such-page/")
    assert resp.status_code == 404 and resp["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_a_malformed_object_id_is_a_json_404_and_a_nul_a_json_400(make_user: Any) -> None:
    client = Client()
    client.force_login(make_user("dev", "model developer"))
    for path in ("/api/v1/models/abc/", "/api/v1/models/99999999999999999999999/versions/",
                 "/api/v1/audit/entries/abc/", "/api/v1/models/1/versions/x/"):
        resp = client.get(path)
        assert (resp.status_code, resp["Content-Type"]) == (404, "application/json"), path
    for path in ("/api/v1/promotion-requests/abc/approve/", "/api/v1/tokens/abc/revoke/",
                 "/api/v1/promotion-requests/1.5/reject/"):
        resp = client.post(path, {"role": "validator"}, content_type="application/json")
        assert (resp.status_code, resp["Content-Type"]) == (404, "application/json"), path
        assert resp.json()["detail"]
    resp = client.get("/api/v1/models/%00/")
    assert (resp.status_code, resp["Content-Type"]) == (400, "application/json")
    assert "NUL" in resp.json()["detail"]


def _assert_api_unavailable(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert status == 503, body[:500]
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Retry-After"]) > 0
    assert json.loads(body)["code"] == "unavailable"


def _assert_page_unavailable(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert status == 503, body[:500]
    assert headers["Content-Type"].startswith("text/html")
    assert int(headers["Retry-After"]) > 0
    assert b"database cannot be reached" in body


def test_a_database_that_cannot_be_reached_is_a_503_never_an_html_500() -> None:
    """A database whose port is closed: the token lookup (in the view), the session lookup (in a middleware,
    before any view) and the admin each fail to connect."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        with gunicorn(f"postgres://nobody@127.0.0.1:{port}/nothing") as base:
            _assert_api_unavailable(get(f"{base}/api/v1/models/", Authorization="Token mg_x"))
            _assert_api_unavailable(get(f"{base}/api/v1/models/", Cookie="sessionid=abcdefghijklmnop0123456789"))
            _assert_page_unavailable(get(f"{base}/admin/", Cookie="sessionid=abcdefghijklmnop0123456789"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_terminated_between_requests_is_a_503_then_the_next_request_reconnects(
        make_user: Any) -> None:
    import psycopg
    from django.db import connection

    from governance.tokens import token_create
    from tests.multiproc import database_url

    user = make_user("dev", "model developer", is_staff=True)
    _, key = token_create(user=user, name="t")
    session = Client()
    session.force_login(user)
    cookie = f"sessionid={session.cookies['sessionid'].value}"
    s = connection.settings_dict

    def terminate_the_servers_connection() -> None:
        with psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"],
                             dbname=s["NAME"], autocommit=True) as other:
            killed = other.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'modelgov-under-test'").fetchone()
            assert killed == (1,)

    with gunicorn(database_url() + "?application_name=modelgov-under-test") as base:
        lost: list[tuple[Callable[[], tuple[int, dict[str, str], bytes]], Callable[..., None]]] = [
            (lambda: get(f"{base}/api/v1/models/", Authorization=f"Token {key}"), _assert_api_unavailable),
            (lambda: get(f"{base}/api/v1/models/", Cookie=cookie), _assert_api_unavailable),
            (lambda: get(f"{base}/admin/", Cookie=cookie), _assert_page_unavailable),
        ]
        for request, check in lost:
            assert request()[0] == 200  # connected, and the connection is kept for the next request
            terminate_the_servers_connection()
            check(request())
            assert request()[0] == 200  # the dead connection was dropped: the next request reconnects
