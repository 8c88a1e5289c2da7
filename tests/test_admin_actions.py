"""The admin's change-list actions (config.admin_actions): a selection naming no object is a message, not a 500."""

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
