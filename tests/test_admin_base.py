"""Every page of the admin (config.admin_base): a selection or an id naming no object is a message, not a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.governance.helpers import People, staff_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user: Any) -> People:
    return staff_world(make_user)


@pytest.mark.parametrize("url", ["auth/user", "auth/group", "governance/promotionrequest", "governance/policy"])
def test_an_action_on_an_id_beyond_64_bits_is_a_message(client: Any, world: Any, url: str) -> None:
    client.force_login(world.root)
    resp = client.post(f"/admin/{url}/", {"action": "delete_selected", "_selected_action": [str(2**63)]},
                       follow=True)
    assert resp.status_code == 200
    assert "The selection names no object of this list" in resp.content.decode()


def test_every_admin_and_inline_is_the_projects() -> None:
    """Django's own (users, roles) and django-axes' included: each checks posted ids (config.admin_base)."""
    from django.apps import apps
    from django.contrib import admin

    from config.admin_base import CheckedIds, ModelAdmin

    shown = [m for m in apps.get_models() if admin.site.is_registered(m)]
    assert {m._meta.label for m in shown} >= {"auth.User", "auth.Group", "axes.AccessAttempt",
                                              "governance.PromotionRequest", "audit.AuditEntry"}
    for model in shown:
        model_admin = admin.site.get_model_admin(model)
        assert isinstance(model_admin, ModelAdmin), model._meta.label
        for inline in model_admin.inlines:
            assert issubclass(inline, CheckedIds), (model._meta.label, inline)


@pytest.mark.parametrize("url", ["axes/accessattempt"])
def test_an_action_on_a_login_record_naming_no_object_is_a_message(client: Any, world: Any, url: str) -> None:
    client.force_login(world.root)
    resp = client.post(f"/admin/{url}/", {"action": "delete_selected", "_selected_action": ["abc", str(2**63)]},
                       follow=True)
    assert resp.status_code == 200
    assert "The selection names no object of this list" in resp.content.decode()
