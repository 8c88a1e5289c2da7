"""The API docs come from this server alone: Swagger UI and ReDoc from installed static files, nothing from
another host, and they render in a browser that can reach no other host, under the Content-Security-Policy."""

from __future__ import annotations

import re
import socket
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from tests.browser import admin_login, browser_page
from tests.gunicorn_server import get, gunicorn

DOCS = ["/api/docs/", "/api/redoc/"]


class _References(HTMLParser):
    """Every address a page makes the browser fetch or go to: src, href, srcset, data-*url, spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name in {"src", "href", "action", "srcset", "poster"} or name.endswith("url")):
                self.found.append(value)


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.found


def _same_origin(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("//")


@pytest.mark.django_db
@pytest.mark.parametrize("path", DOCS)
def test_the_docs_pages_reference_nothing_on_another_host(client: Client, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    html = resp.content.decode()
    found = _references(html)
    assert any("/static/drf_spectacular_sidecar/" in url for url in found), found
    assert [url for url in found if not _same_origin(url)] == []
    assert not re.search(r"https?://|//fonts\.", html), "no address of another host anywhere on the page"
    assert "<script>" not in html, "no inline script: the policy allows none"
    for url in found:
        if url.startswith("/static/"):
            static = client.get(url)
            assert static.status_code == 200, url  # served by the app itself: nothing else serves /static/
            body = b"".join(static.streaming_content) if static.streaming else static.content  # type: ignore[attr-defined]
            if url.endswith(".css"):
                assert not re.search(rb"url\(\s*['\"]?(https?:)?//", body), f"{url} loads from another host"


@pytest.mark.django_db
def test_swagger_ui_starts_from_a_script_of_its_own_that_reads_the_schema_here(client: Client) -> None:
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    body = script.content.decode()
    assert 'url: "/api/schema/"' in body
    assert '"validatorUrl": null' in body  # no badge fetched from the public validator


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/", "/admin/login/", "/api/v1/models/", "/no-such-page/",
                                  "/api/v1/nope/"])
def test_every_answer_carries_the_content_security_policy(client: Client, path: str) -> None:
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no inline script, no eval, no other host, on any page
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "http" not in policy


def test_production_serves_the_docs_and_their_static_files_itself_even_with_the_database_down() -> None:
    """Production settings through gunicorn, nothing in front, no collectstatic: /static/ is the app's own."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        env = {"DJANGO_SETTINGS_MODULE": "config.settings.production", "SECRET_KEY": "x" * 60,
               "SECURE_SSL_REDIRECT": "false", "ALLOWED_HOSTS": "127.0.0.1"}
        with gunicorn(f"postgres://nobody@127.0.0.1:{port}/nothing", **env) as base:
            status, headers, body = get(f"{base}/api/docs/")
            assert status == 200, body[:500]
            assert "script-src 'self'" in headers["Content-Security-Policy"]
            for url in _references(body.decode()):
                if url.startswith("/static/"):
                    assert get(f"{base}{url}")[0] == 200, url
            assert get(f"{base}/api/docs/?script=")[0] == 200
            assert get(f"{base}/api/schema/")[0] == 200
            assert get(f"{base}/static/admin/css/base.css")[0] == 200


def _is_csp_violation(text: str) -> bool:
    return "Content Security Policy" in text or "Content-Security-Policy" in text


def _watch(page: Any, live_url: str) -> tuple[list[str], list[str]]:
    """Block every request to another host, and collect the console's complaints and the blocked addresses."""
    complaints: list[str] = []
    elsewhere: list[str] = []
    origin = live_url.rstrip("/")

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(origin + "/") or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            elsewhere.append(url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: complaints.append(m.text) if m.type in {"error", "warning"} else None)
    page.on("pageerror", lambda e: complaints.append(f"page error: {e}"))
    return complaints, elsewhere


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_offline_without_a_policy_violation(live_server: Any) -> None:
    with browser_page() as page:
        complaints, elsewhere = _watch(page, live_server.url)
        page.goto(f"{live_server.url}/api/docs/")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "modelgov API" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock-tag-section", timeout=30_000)
        assert page.locator(".opblock").count() > 10  # every operation listed
        page.click(".opblock-summary >> nth=0")  # an operation opens: the UI's scripts run
        page.wait_for_selector(".opblock.is-open")
    assert elsewhere == []
    assert complaints == []


# ReDoc's bundle writes its "API docs by Redocly" logo as an <img> from cdn.redoc.ly, with no option to leave it
# out: the policy blocks it (so nothing is fetched from there) and the link's text stays. The one complaint.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_redoc_renders_offline_and_the_policy_keeps_its_logo_from_another_host(live_server: Any) -> None:
    with browser_page() as page:
        complaints, elsewhere = _watch(page, live_server.url)
        page.goto(f"{live_server.url}/api/redoc/")
        page.wait_for_selector("redoc .api-content h1", timeout=30_000)
        assert "modelgov API" in page.inner_text("redoc .api-content h1")
        page.fill("input[role=search], .search-input", "tokens")  # search runs in its worker
        page.wait_for_selector("[data-role='search:results'], .search-results, [role=search] ~ *", timeout=10_000)
    assert elsewhere == []
    assert [c for c in complaints if REDOC_LOGO not in c] == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_admin_works_under_the_policy(live_server: Any, make_user: Any) -> None:
    make_user("root", superuser=True)
    pages = ["/admin/", "/admin/auth/user/", "/admin/auth/user/add/", "/admin/auth/group/",
             "/admin/registry/registeredmodel/", "/admin/registry/registeredmodel/add/",
             "/admin/governance/promotionrequest/", "/admin/governance/policy/", "/admin/audit/auditentry/",
             "/admin/axes/accessattempt/", "/admin/password_change/"]
    with browser_page() as page:
        complaints, elsewhere = _watch(page, live_server.url)
        admin_login(page, live_server.url, "root", "pw-root")
        for path in pages:
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("load")
            assert page.locator("#header").count() == 1, path  # the admin's own page, styled and whole
        page.goto(f"{live_server.url}/admin/auth/user/")
        before = page.get_attribute("#nav-sidebar", "aria-expanded")
        page.click("#toggle-nav-sidebar")  # the admin's scripts run
        page.wait_for_function(f"document.getElementById('nav-sidebar').getAttribute('aria-expanded') != '{before}'")
        page.goto(f"{live_server.url}/admin/audit/auditentry/")
        page.fill("#date-range-filter input[name=since]", "2020-01-01")
        page.click("#date-range-filter input[type=submit]")
        page.wait_for_url("**since=2020-01-01**")
    assert elsewhere == []
    assert [c for c in complaints if _is_csp_violation(c)] == []


@pytest.mark.django_db
def test_the_api_docs_page_answers_other_methods_with_405(client: Any) -> None:
    assert client.get("/api/docs/").status_code == 200
    for method in ("options", "post", "delete"):
        assert getattr(client, method)("/api/docs/", HTTP_ACCEPT="text/html").status_code == 405, method
