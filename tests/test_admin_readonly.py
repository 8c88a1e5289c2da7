"""The admin's view-only pages (config.admin_readonly): a superuser, whom Django's own checks allow everything, may
view these records and may not add, change or delete them in the admin, but for the one change an admin allows."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.test import RequestFactory

VIEW_ONLY = ("audit.AuditEntry", "audit.Checkpoint", "audit.VerificationRun", "reports.Report",
             "governance.PromotionRequest", "governance.ApiToken", "monitoring.Batch", "monitoring.Evaluation",
             "monitoring.Breach")


@pytest.fixture
def root() -> HttpRequest:
    request = RequestFactory().get("/admin/")
    request.user = get_user_model()(username="root", is_superuser=True, is_staff=True, is_active=True)
    return request


@pytest.mark.parametrize("label", VIEW_ONLY)
def test_a_superuser_may_view_but_not_add_change_or_delete(label: str, root: HttpRequest) -> None:
    model_admin = admin.site.get_model_admin(apps.get_model(label))
    assert model_admin.has_view_permission(root)
    assert not model_admin.has_add_permission(root)
    assert not model_admin.has_change_permission(root)
    assert not model_admin.has_delete_permission(root)


@pytest.mark.parametrize(("label", "allowed"), [("governance.PromotionHold", "change"),
                                                ("governance.ServiceAccount", "add")])
def test_an_admin_that_allows_one_change_denies_the_other_two(label: str, allowed: str, root: HttpRequest) -> None:
    model_admin = admin.site.get_model_admin(apps.get_model(label))
    denied = {"add": model_admin.has_add_permission(root), "change": model_admin.has_change_permission(root),
              "delete": model_admin.has_delete_permission(root)}
    del denied[allowed]
    assert denied == {k: False for k in denied}
