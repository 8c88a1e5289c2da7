"""Large-list paging: the API's count stops at a cap (a lower bound past it) while `next` stays exact, and below
the cap every page is what DRF's and Django's stock paginators write; the admin's framework filter lists the distinct
values without a SELECT DISTINCT over the table."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.pagination import LimitOffsetPagination

from config import paging
from governance.api.views import PromotionRequestViewSet
from registry.api.views import ModelViewSet, VersionViewSet
from tests.factories import make_model, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(api, make_user):
    user = make_user("dev", "model developer")
    api.force_authenticate(user)
    for i in range(5):
        make_model(user, name=f"m{i}", risk_tier="high")
    return api


def test_count_is_exact_below_the_cap(client):
    page = client.get("/api/v1/models/?risk_tier=high&limit=2&offset=2").json()
    assert page["count"] == 5
    assert [m["name"] for m in page["results"]] == ["m2", "m3"]
    assert "offset=4" in page["next"]
    last = client.get(page["next"]).json()
    assert last["count"] == 5 and last["next"] is None and [m["name"] for m in last["results"]] == ["m4"]


def test_count_past_the_cap_is_a_lower_bound_and_next_still_ends_the_list(client, monkeypatch):
    monkeypatch.setattr(paging, "API_COUNT_CAP", 3)
    first = client.get("/api/v1/models/?risk_tier=high&limit=2").json()
    assert first["count"] == 3  # at least 3
    assert "offset=2" in first["next"]
    second = client.get(first["next"]).json()
    assert second["count"] >= 4 and "offset=4" in second["next"]
    last = client.get(second["next"]).json()
    assert last["count"] == 5 and last["next"] is None  # the end seen is the exact count
    assert [m["name"] for p in (first, second, last) for m in p["results"]] == [f"m{i}" for i in range(5)]
    exact_page = client.get("/api/v1/models/?risk_tier=high&limit=5").json()
    assert exact_page["count"] == 5 and exact_page["next"] is None


def test_pages_below_the_cap_are_what_drfs_limit_offset_pagination_writes(client, monkeypatch):
    from registry.models import RegisteredModel

    owner = RegisteredModel.objects.get(name="m0").owner
    for name in ("m0", "m1"):
        for _ in range(3):
            make_version(RegisteredModel.objects.get(name=name), owner)
    urls = ["/api/v1/models/", "/api/v1/models/?limit=2", "/api/v1/models/?limit=2&offset=2",
            "/api/v1/models/?risk_tier=high&limit=2&offset=4", "/api/v1/models/?limit=2&offset=9",
            "/api/v1/models/m0/versions/?limit=2&offset=1", "/api/v1/versions/?limit=4",
            "/api/v1/versions/?limit=4&offset=4", "/api/v1/versions/?model=m1", "/api/v1/promotion-requests/"]
    ours = {url: client.get(url).json() for url in urls}
    for view in (ModelViewSet, VersionViewSet, PromotionRequestViewSet):
        monkeypatch.setattr(view, "pagination_class", LimitOffsetPagination)
    stock = {url: client.get(url).json() for url in urls}
    assert ours == stock
    assert ours["/api/v1/versions/?limit=4"]["count"] == 6 and ours["/api/v1/versions/?limit=4"]["next"]


def test_the_audit_log_below_the_cap_is_what_djangos_paginator_renders(admin_client, make_user, monkeypatch):
    from audit.models import AuditEntry

    user = make_user("dev3", "model developer")
    for i in range(3):
        make_version(make_model(user, name=f"p{i}"), user)
    pages = ["/admin/audit/auditentry/", "/admin/audit/auditentry/?object_type=registry.registeredmodel",
             "/admin/audit/auditentry/?object_type=registry.modelversion&o=-1"]

    def render(url):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())

    ours = {url: render(url) for url in pages}
    model_admin = admin.site.get_model_admin(AuditEntry)
    assert model_admin.paginator is paging.EstimatedCountPaginator
    monkeypatch.setattr(model_admin, "paginator", Paginator)
    assert ours == {url: render(url) for url in pages}
    assert "registry.modelversion" in ours[pages[0]]


def test_count_is_described_in_the_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    listing = schema["components"]["schemas"]["PaginatedModelOutList"]["properties"]["count"]
    assert "lower bound" in listing["description"] or "at least" in listing["description"]


def test_admin_framework_filter_lists_values_without_distinct(admin_client, make_user):
    from tests.factories import make_version

    user = make_user("dev2", "model developer")
    model = make_model(user, name="fw")
    for fw in ["xgboost", "sklearn", "xgboost", ""]:
        make_version(model, user, framework=fw)
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get("/admin/registry/modelversion/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "?framework=sklearn" in body and "?framework=xgboost" in body
    if connection.vendor == "postgresql":
        assert not any("SELECT DISTINCT" in q["sql"] and "framework" in q["sql"] for q in queries.captured_queries)
