"""Ids as forms receive them (config.ids): one beyond what a database integer holds is a form error, not a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from tests.governance.helpers import People, staff_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user: Any) -> People:
    return staff_world(make_user)


def test_a_form_naming_an_id_beyond_64_bits_is_a_form_error(client: Any, world: Any) -> None:
    client.force_login(world.root)
    auditor = Group.objects.get(name="auditor")
    resp = client.post(f"/admin/auth/group/{auditor.pk}/change/", {"name": "auditor", "permissions": [str(2**63)]})
    assert resp.status_code == 200 and resp.context["adminform"].form.errors
    resp = client.post(f"/admin/registry/registeredmodel/{world.version.model.pk}/change/",
                       {"developers": [str(10**30)], "title": "t", "owner": str(world.dev.pk)})
    assert resp.status_code == 200


def test_the_choice_fields_refuse_ids_no_database_holds_before_any_query(django_assert_num_queries: Any) -> None:
    from django import forms

    from config import ids

    one = ids.ModelChoiceField(queryset=Group.objects.all())
    many = ids.ModelMultipleChoiceField(queryset=Group.objects.all())
    with django_assert_num_queries(0):
        with pytest.raises(forms.ValidationError, match="Select a valid choice"):
            one.clean(str(2**63))
        with pytest.raises(forms.ValidationError, match="is not a valid value"):
            many.clean(["1", str(-(2**63) - 1)])


def test_a_users_role_and_a_models_owner_beyond_64_bits_are_form_errors(client: Any, world: Any) -> None:
    client.force_login(world.root)
    resp = client.post(f"/admin/registry/registeredmodel/{world.version.model.pk}/change/",
                       {"title": "t", "owner": str(2**63)})
    assert resp.status_code == 200 and "owner" in resp.context["adminform"].form.errors
    resp = client.post(f"/admin/auth/user/{world.dev.pk}/change/",
                       {"username": world.dev.username, "groups": [str(2**64)]})
    assert resp.status_code == 200 and "groups" in resp.context["adminform"].form.errors
