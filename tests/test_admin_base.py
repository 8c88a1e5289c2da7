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

REFUSED = "no object has a number that large"


def _assert_shown(client: Any, resp: Any, query: str) -> None:
    """Where the database can answer (PostgreSQL), the filtered list; where it cannot, the list without it."""
    if resp.status_code != 200:
        _assert_dropped(client, resp, query)


def _assert_dropped(client: Any, resp: Any, query: str) -> None:
    """The list answered with itself, without the filters, and a message saying which were dropped."""
    assert resp.status_code == 302, (query, resp.status_code)
    page = client.get(resp["Location"])
    assert page.status_code == 200 and "Not filtered by" in page.content.decode(), query


# 1. A date/time transform (year, hour, week, ...) turns a date column into an integer one (the review found
#    _compares_integers stopping at the DateTimeField). Django's lookup_allowed lets any transform of a local field
#    through, so every change list with a date field failed.
#    __in: OverflowError "Python int too large to convert to SQLite INTEGER" as the query runs (SQLite only).
#    __year exact/gt/...: Django builds datetime(year, 1, 1) while compiling: OverflowError on every database.
DATE_PARTS_BEYOND_64_BITS = [
    f"governance/promotionrequest/?queue=all&created_at__year__in={BIG}",
    f"auth/user/?date_joined__year__in={BIG}",
    f"auth/user/?date_joined__hour__in={SMALL}",
    f"auth/user/?last_login__date__year__in={BIG}",
    f"audit/auditentry/?ts__year__in={BIG}",
    f"audit/verificationrun/?finished_at__year__in={HUGE}",
    f"monitoring/evaluation/?window_end__week__in={BIG}",
    f"axes/accessattempt/?attempt_time__month__in={BIG}",
    f"auth/user/?date_joined__year={BIG}",  # YearExact: datetime(2**63, 1, 1), PostgreSQL too
    f"governance/apitoken/?created_at__year__gte={BIG}",
    f"audit/checkpoint/?ts__iso_year={BIG}",  # ValueError: ISO calendar component out of range
    f"auth/user/?_popup=1&_to_field=id&date_joined__year__in={BIG}",  # the related-object popup
]


def test_select_all_on_a_list_filtered_by_a_date_transform_beyond_64_bits_is_not_a_500(client: Any,
                                                                                      world: Any) -> None:
    client.force_login(world.root)
    client.raise_request_exception = False
    resp = client.post(f"/admin/governance/apitoken/?created_at__year__in={BIG}",
                       {"action": "revoke_selected", "select_across": "1", "index": "0", "_selected_action": ["1"]})
    _assert_dropped(client, resp, "apitoken")


# 2. django-axes' three admins have date_hierarchy = "attempt_time". Django's ChangeList.get_filters builds
#    datetime(int(year), int(month), int(day)) and catches only ValueError: a number beyond a C long raises
#    OverflowError (500), on every database. The guard does not look at these names (DateTimeField).
DATE_HIERARCHY_BEYOND_64_BITS = [
    f"axes/accessattempt/?attempt_time__year={BIG}",
    f"axes/accesslog/?attempt_time__year={HUGE}",
    f"axes/accessfailurelog/?attempt_time__year={SMALL}",
    f"axes/accessattempt/?attempt_time__year=2024&attempt_time__month={BIG}",
    f"axes/accessattempt/?attempt_time__year=2024&attempt_time__month=1&attempt_time__day={BIG}",
]


# 3. Not beyond 64 bits, and on PostgreSQL too: the calendar's end. Django computes the next year / month / day
#    outside its try (date_hierarchy), and YearLookup builds datetime(10000, 1, 1) while compiling.
YEARS_PAST_9999 = [
    "axes/accessattempt/?attempt_time__year=9999",  # ValueError: year 10000 is out of range
    "axes/accesslog/?attempt_time__year=9999&attempt_time__month=12",  # OverflowError: date value out of range
    "axes/accessfailurelog/?attempt_time__year=9999&attempt_time__month=12&attempt_time__day=31",
    "auth/user/?date_joined__year=10000",
    "governance/promotionrequest/?queue=all&created_at__year__gt=10000",
]


# 4. SQLite only: a datetime with an offset at the calendar's edge parses (parse_datetime) but cannot be turned
#    into UTC when the query is compiled (OverflowError: date value out of range). Any datetime column, any lookup.
DATETIMES_LEAVING_THE_CALENDAR = [
    "governance/promotionrequest/?queue=all&created_at__gte=0001-01-01T00:00:00%2B05:00",
    "auth/user/?date_joined__lt=9999-12-31T23:59:59-05:00",
    "auth/user/?date_joined__in=0001-01-01T00:00%2B01:00",
    "audit/auditentry/?ts__gte=0001-01-01T00:00:00%2B05:00",
    "axes/accessattempt/?attempt_time__gte=0001-01-01T00:00:00%2B05:00",  # the list filter's own parameter
]


# 5. Other lookups Django lets through from the query string that fail only as the page runs.
LOOKUPS_FAILING_AS_THE_PAGE_RUNS = [
    "auth/user/?id__range=1",  # one value: Range's "BETWEEN %s AND %s" takes rhs[1] -> IndexError (both databases)
    "governance/promotionrequest/?queue=all&id__range=",
    "auth/user/?username__regex=(",  # SQLite: OperationalError -> a 503 "retry"; PostgreSQL: DataError -> 500
    "audit/auditentry/?object_id__iregex=%5B",
]


JSON_LOOKUPS_THE_DATABASE_MAY_LACK = [
    "reports/report/?metrics__contains=1",  # SQLite: NotSupportedError for a JSON column's contains
    "monitoring/evaluation/?results__contained_by=1",
]


# 6. Django's permission check comes before the guard: run after it, a staff member who may not see a list got a
#    redirect and a message instead of a 403, and learnt which names are integer columns or relations of a model
#    they cannot read (?groups__in=2**63 -> 302, ?password__in=2**63 -> 403).
@pytest.mark.parametrize(("who", "query"), [
    ("aud", f"auth/user/?groups__in={BIG}"),
    ("dev", f"auth/user/?service_account__owner={BIG}"),
    ("val", f"governance/serviceaccount/?owner={BIG}"),
    ("gov", f"axes/accessattempt/?id__in={BIG}"),
])
def test_a_list_the_user_may_not_see_stays_forbidden_whatever_the_filter(client: Any, world: Any, who: str,
                                                                        query: str) -> None:
    client.force_login(getattr(world, who))
    assert _get(client, f"/admin/{query.split('?')[0]}").status_code == 403  # not theirs to read
    resp = _get(client, f"/admin/{query}")
    assert resp.status_code == 403, (who, query, resp.status_code, resp.get("Location"))


# 7. A false positive (minor): __isnull takes any text but "", "false" and "0" as True; it compares no number, yet a
#    long number there drops the filter with "no object has a number that large".
def test_isnull_is_not_a_number_compared(client: Any, world: Any) -> None:
    client.force_login(world.root)
    resp = _get(client, f"/admin/governance/promotionrequest/?queue=all&version__isnull={BIG}")
    assert resp.status_code == 200 and REFUSED not in resp.content.decode(), resp.status_code


@pytest.mark.parametrize("query", [*DATE_PARTS_BEYOND_64_BITS, *DATE_HIERARCHY_BEYOND_64_BITS, *YEARS_PAST_9999,
                                   *LOOKUPS_FAILING_AS_THE_PAGE_RUNS])
def test_a_filter_that_fails_as_the_page_runs_is_dropped_not_a_500(client: Any, world: Any, query: str) -> None:
    client.force_login(world.root)
    _assert_dropped(client, _get(client, f"/admin/{query}"), query)


@pytest.mark.parametrize("query", [*DATETIMES_LEAVING_THE_CALENDAR, *JSON_LOOKUPS_THE_DATABASE_MAY_LACK])
def test_a_filter_only_sqlite_cannot_run_is_shown_or_dropped_not_a_500(client: Any, world: Any, query: str) -> None:
    client.force_login(world.root)
    _assert_shown(client, _get(client, f"/admin/{query}"), query)
