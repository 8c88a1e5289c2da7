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


BIG = str(2**63)  # one past what a signed 64-bit integer holds
SMALL = str(-(2**63) - 1)
HUGE = str(10**30)


def _get(client: Any, url: str) -> Any:
    client.raise_request_exception = False  # a 500 as the user sees it, not the exception
    return client.get(url)


@pytest.mark.parametrize("query", [
    # a foreign key, exactly as Django names the filter of a related field (RelatedExact)
    f"governance/promotionrequest/?queue=all&version={BIG}",
    f"governance/promotionrequest/?queue=all&requested_by__exact={SMALL}",
    f"reports/report/?version={HUGE}",
    f"monitoring/breach/?evaluation={BIG}",
    f"governance/apitoken/?user={BIG}",
    f"governance/serviceaccount/?owner={BIG}",
    # a foreign key compared (RelatedGreaterThan, RelatedLessThanOrEqual)
    f"registry/registeredmodel/?owner__gt={BIG}",
    f"registry/modelversion/?model__lte={SMALL}",
    # many-to-many: a user's roles, a role's permissions, a model's developers
    f"auth/user/?groups={BIG}",
    f"auth/user/?user_permissions__in={BIG}",
    f"auth/group/?permissions={BIG}",
    f"registry/registeredmodel/?developers={BIG}",
    f"registry/datasetversion/?parents__in={BIG}",
    # the key itself, as a list (In): every change list, Django's and django-axes' included
    f"auth/user/?pk__in={BIG}",
    f"auth/group/?id__in={SMALL}",
    f"audit/auditentry/?pk__in={BIG}",
    f"audit/checkpoint/?pk__in={BIG}",
    f"governance/policy/?id__in={HUGE}",
    f"axes/accessattempt/?id__in={BIG}",
    f"axes/accesslog/?pk__in={BIG}",
    # an integer column that is not a key
    f"registry/datasetversion/?row_count__in={BIG}",
    # the related-object lookup popup (the "magnifying glass" and the "+" of a form's foreign key)
    f"auth/user/?_popup=1&_to_field=id&id__in={BIG}",
])
def test_a_change_list_filtered_by_a_number_beyond_64_bits_drops_that_filter(client: Any, world: Any,
                                                                             query: str) -> None:
    """Django guards only an integer field's own exact and ordering lookups: `__in` and lookups across a relation
    reached SQLite with the number, which failed as the page ran (a 500 on every change list)."""
    client.force_login(world.root)
    resp = _get(client, f"/admin/{query}")
    assert resp.status_code == 302, (query, resp.status_code)
    path, _, kept = resp["Location"].partition("?")
    assert path == f"/admin/{query.split('?')[0]}"
    assert not any(n in kept for n in (BIG, SMALL, HUGE))
    for name in ("queue=all", "_popup=1", "_to_field=id"):
        assert (name in kept) == (name in query)
    page = client.get(resp["Location"])
    assert page.status_code == 200 and "no object has a number that large" in page.content.decode()


@pytest.mark.parametrize(("who", "query"), [
    # any staff member who may read the list: a validator reading the queue, an auditor the log, a governance
    # admin the accounts
    ("val", f"governance/promotionrequest/?queue=all&version={BIG}"),
    ("aud", f"audit/auditentry/?pk__in={BIG}"),
    ("aud", f"registry/modelversion/?created_by={BIG}"),
    ("gov", f"auth/user/?groups={BIG}"),
    ("gov", f"governance/apitoken/?user__in={BIG}"),
])
def test_staff_in_their_roles_get_no_500_from_a_filter_beyond_64_bits(client: Any, world: Any, who: str,
                                                                      query: str) -> None:
    client.force_login(getattr(world, who))
    assert _get(client, f"/admin/{query.split('?')[0]}").status_code == 200  # the list is theirs to read
    resp = _get(client, f"/admin/{query}")
    assert resp.status_code == 302, (who, query, resp.status_code)


def test_an_action_on_all_of_a_list_filtered_beyond_64_bits_is_not_a_500(client: Any, world: Any) -> None:
    """The action's selection is checked (response_action), and "select all" acts on the change list's own query,
    filtered by the query string: refused before it runs, and nothing is revoked."""
    from governance import tokens

    token, _key = tokens.token_create(user=world.dev, name="t", by=world.dev)
    client.force_login(world.root)
    client.raise_request_exception = False
    resp = client.post(f"/admin/governance/apitoken/?user={BIG}",
                       {"action": "revoke_selected", "select_across": "1", "index": "0",
                        "_selected_action": [str(token.pk)]})
    assert resp.status_code == 302, resp.status_code
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_search_box_keeps_a_long_number(client: Any, world: Any) -> None:
    """Text searched for is not a lookup: a 20-digit number in the search box is searched for, not refused."""
    client.force_login(world.root)
    resp = client.get(f"/admin/auth/user/?q={HUGE}")
    assert resp.status_code == 200 and "no object has a number that large" not in resp.content.decode()


@pytest.mark.parametrize("query", [
    f"audit/auditentry/?object_id={HUGE}",  # a text column: a login_failed entry's object is the name typed
    f"audit/auditentry/?object_id__in={HUGE},{BIG}",
    f"auth/user/?username={HUGE}",
    f"governance/promotionrequest/?queue=all&justification__contains={BIG}",
])
def test_a_long_number_compared_with_text_is_a_filter_like_any_other(client: Any, world: Any, query: str) -> None:
    client.force_login(world.root)
    resp = client.get(f"/admin/{query}")
    assert resp.status_code == 200 and "no object has a number that large" not in resp.content.decode()
