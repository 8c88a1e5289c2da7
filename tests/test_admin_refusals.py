"""A change the services refuse comes back to the admin (config.admin_refusals) as its form, as typed, with the
refusal as its error, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.governance.helpers import People, staff_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user: Any) -> People:
    return staff_world(make_user)


def test_a_change_the_service_refuses_comes_back_as_typed_with_the_reason(client: Any, world: Any) -> None:
    from registry.models import RegisteredModel

    client.force_login(world.root)
    resp = client.post("/admin/registry/registeredmodel/add/",
                       {"name": "fresh", "title": "A long title typed by hand", "owner": str(world.dev.pk),
                        "risk_tier": "high", "eu_ai_act_category": "high", "tags": '{"a": 1}'})
    form = resp.context["adminform"].form
    assert resp.status_code == 200 and any(e.startswith("Refused: ") for e in form.non_field_errors()), form.errors
    assert form["title"].value() == "A long title typed by hand"
    assert not RegisteredModel.objects.filter(name="fresh").exists()
