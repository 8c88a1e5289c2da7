"""The API's plumbing (config.api): a request Django refuses before any view runs is a JSON 400 with a message."""

from __future__ import annotations

from typing import Any

import pytest

from registry.models import RegisteredModel
from tests.governance.helpers import People


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


@pytest.mark.django_db
def test_a_body_too_large_or_with_too_many_fields_is_a_json_400(api: Any, people: People) -> None:
    api.force_authenticate(people.root)
    big = api.post("/api/v1/models/", '{"name":"x","title":"t","description":"' + "a" * 11_000_000 + '"}',
                   content_type="application/json")
    assert big.status_code == 400 and big["Content-Type"].startswith("application/json")
    assert "larger than the" in big.json()["detail"]
    many = api.post("/api/v1/models/", "&".join(f"f{i}=1" for i in range(1100)),
                    content_type="application/x-www-form-urlencoded")
    assert many.status_code == 400 and "fields allowed" in many.json()["detail"]
    assert not RegisteredModel.objects.filter(name="x").exists()
