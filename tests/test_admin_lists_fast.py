"""The admin's fast change lists (config.admin_rows.FastChangeList) render exactly the page Django's own
ChangeList and row rendering would, with no more queries."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config import admin_rows
from config.admin_lists import QuickActionCheckbox
from config.admin_rows import FastChangeListAdmin
from tests.factories import make_model
from tests.test_query_counts import _grow

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/registry/registeredmodel/",
    "/admin/registry/registeredmodel/?risk_tier__exact=high",
    "/admin/registry/registeredmodel/?o=-2.7",
    "/admin/registry/registeredmodel/?q=m1",
    "/admin/registry/registeredmodel/?business_unit=credit",
    "/admin/registry/registeredmodel/?_popup=1",
    "/admin/registry/modelversion/",
    "/admin/registry/modelversion/?stage__exact=none&o=-6",
    "/admin/registry/modelversion/?framework=scikit-learn&q=m",
    "/admin/registry/dataset/",
    "/admin/registry/datasetversion/",
    "/admin/governance/promotionrequest/?queue=all",
    "/admin/governance/promotionrequest/",
    "/admin/governance/promotionrequest/?queue=all&status__exact=pending&o=1",
    "/admin/audit/auditentry/",
    "/admin/audit/auditentry/?object_type=registry.registeredmodel&object_id={m0}",
    "/admin/audit/auditentry/?channel=api&actor_kind=user&o=-1",
    "/admin/audit/checkpoint/",
    "/admin/audit/verificationrun/",
]

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


@pytest.fixture
def root(make_user: Any) -> Any:
    return make_user("root", "model developer", "model validator", superuser=True)


@pytest.fixture
def lists(root: Any) -> Any:
    _grow(root, 0, 3)
    # Text that must be escaped, and blank values shown as the empty-value text.
    make_model(root, "esc", title='<b>"quoted" & bold</b>', business_unit="credit")
    return root


def _page(client: Any, url: str) -> tuple[str, int]:
    from registry.models import RegisteredModel

    url = url.format(m0=RegisteredModel.objects.get(name="m0").pk)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return _CSRF.sub("CSRF", response.content.decode()), len(ctx.captured_queries)


def _as_django(monkeypatch: Any) -> None:
    """Django's own change list, rows and selection box."""
    monkeypatch.setattr(FastChangeListAdmin, "change_list_template", None)
    monkeypatch.setattr(FastChangeListAdmin, "get_changelist", admin.ModelAdmin.get_changelist)
    monkeypatch.setattr(QuickActionCheckbox, "action_checkbox", admin.ModelAdmin.action_checkbox)


def test_fast_change_lists_render_what_django_renders(client: Any, lists: Any, monkeypatch: Any) -> None:
    client.force_login(lists)
    fast = {url: _page(client, url) for url in PAGES}
    _as_django(monkeypatch)
    slow = {url: _page(client, url) for url in PAGES}
    for url in PAGES:
        assert fast[url][0] == slow[url][0], url
        assert fast[url][1] <= slow[url][1], url
    assert "&lt;b&gt;&quot;quoted&quot; &amp; bold&lt;/b&gt;" in fast["/admin/registry/registeredmodel/"][0]


def test_a_validators_lists_render_what_django_renders(client: Any, lists: Any, make_user: Any,
                                                       monkeypatch: Any) -> None:
    """A staff user with a role's permissions only: other actions, links and columns than a superuser's."""
    validator = make_user("staff-validator", "model validator", is_staff=True)
    client.force_login(validator)
    pages = [url for url in PAGES if "registry" in url or "governance" in url or "auditentry" in url]
    fast = {url: _page(client, url) for url in pages}
    _as_django(monkeypatch)
    for url in pages:
        assert fast[url] == _page(client, url), url


def test_rows_link_with_the_preserved_filters(client: Any, lists: Any) -> None:
    from registry.models import RegisteredModel

    client.force_login(lists)
    page, _ = _page(client, "/admin/registry/registeredmodel/?q=m1")
    pk = RegisteredModel.objects.get(name="m1").pk
    assert f'href="/admin/registry/registeredmodel/{pk}/change/?_changelist_filters=q%3Dm1"' in page


def test_datetime_cells_format_once_per_minute_only_without_seconds(monkeypatch: Any) -> None:
    from registry.models import RegisteredModel

    field = RegisteredModel._meta.get_field("updated_at")
    calls: list[Any] = []

    def counted(value: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(value)
        return admin.utils.display_for_field(value, *args, **kwargs)

    monkeypatch.setattr(admin_rows, "display_for_field", counted)
    first = dt.datetime(2026, 3, 1, 12, 5, 7, tzinfo=dt.UTC)
    values = [first, first.replace(second=59, microsecond=3), first.replace(minute=6), None]
    show = admin_rows._datetime_display(field, "-")
    shown = [show(v) for v in values]
    assert shown == [admin.utils.display_for_field(v, field, "-") for v in values]
    assert len(calls) == 3  # the second value's minute was formatted already

    calls.clear()
    monkeypatch.setattr(admin_rows, "get_format", lambda name: "H:i:s")
    show = admin_rows._datetime_display(field, "-")
    [show(v) for v in values]
    assert len(calls) == len(values)
