"""The API's shared filter fields (config.filters): a time the database cannot hold is a 400 naming it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.governance.helpers import People


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


@pytest.mark.django_db
@pytest.mark.parametrize("url,name", [("/api/v1/audit/entries/", "since"), ("/api/v1/audit/entries/", "until"),
                                      ("/api/v1/versions/", "created_after")])
def test_a_time_whose_utc_instant_falls_outside_the_years_1_to_9999_is_named(
        api: Any, people: People, url: str, name: str) -> None:
    api.force_authenticate(people.root)
    for value in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"):
        resp = api.get(url, {name: value})
        assert resp.status_code == 400, resp.content
        assert "within the years 1 to 9999" in str(resp.json()), resp.json()
    assert api.get(url, {name: "0001-01-01T00:00:00-01:00"}).status_code == 200
