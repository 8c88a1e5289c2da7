"""The log in the admin: filters by action, actor and any date range, each answering exactly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from tests.factories import make_model
from tests.governance.helpers import People, staff_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def auditor_client(client: Any, make_user: Any) -> Any:
    client.force_login(make_user("aud", "auditor", is_staff=True))
    return client


def _seqs(client: Any, query: str) -> list[int]:
    resp = client.get(f"/admin/audit/auditentry/?{query}")
    assert resp.status_code == 200, resp.status_code
    return sorted(entry.seq for entry in resp.context["cl"].result_list)


def test_filter_by_action_and_by_actor(auditor_client: Any, make_user: Any) -> None:
    alice, bob = make_user("alice", "model developer"), make_user("bob", "model developer")
    make_model(alice, "a")
    make_model(bob, "b")
    created = "registry.registeredmodel.create"
    assert _seqs(auditor_client, f"action={created}") == sorted(
        AuditEntry.objects.filter(action=created).values_list("seq", flat=True))
    assert _seqs(auditor_client, "actor_name=bob") == sorted(
        AuditEntry.objects.filter(actor_name="bob").values_list("seq", flat=True))
    page = auditor_client.get("/admin/audit/auditentry/").content.decode()
    assert 'href="?actor_name=bob"' in page  # each actor's name links to their entries
    assert f"?action={created}" in page  # the actions offered in the filter


def test_filter_by_any_date_range(auditor_client: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    dev = make_user("dev", "model developer")
    # Later than anything logged so far: an entry's ts never goes below the one before it.
    days = [dt.datetime(2036, 3, d, 12, tzinfo=dt.UTC) for d in (1, 5, 9)]
    for day in days:
        monkeypatch.setattr(timezone, "now", lambda day=day: day)
        make_model(dev, f"m{day.day}")
    monkeypatch.undo()
    by_day = {day.day: set(AuditEntry.objects.filter(ts__date=day.date()).values_list("seq", flat=True))
              for day in days}
    assert all(by_day.values())
    assert set(_seqs(auditor_client, "since=2036-03-05&until=2036-03-05")) == by_day[5]
    assert set(_seqs(auditor_client, "since=2036-03-05")) >= by_day[5] | by_day[9]
    assert not set(_seqs(auditor_client, "since=2036-03-05")) & by_day[1]
    assert set(_seqs(auditor_client, "until=2036-03-05&actor_name=dev")) == by_day[1] | by_day[5]
    page = auditor_client.get("/admin/audit/auditentry/?since=2036-03-05&actor_name=dev").content.decode()
    assert 'name="since" value="2036-03-05"' in page
    assert '<input type="hidden" name="actor_name" value="dev">' in page  # other filters kept by the form


def test_a_bad_date_is_a_message_not_a_500(auditor_client: Any) -> None:
    resp = auditor_client.get("/admin/audit/auditentry/?since=yesterday")
    assert resp.status_code == 302 and resp["Location"].endswith("?e=1")


def test_every_governed_objects_page_links_to_its_history_in_the_log(client: Any, make_user: Any) -> None:
    from django.contrib.auth.models import Group

    from governance import services
    from governance.models import Policy
    from governance.tokens import token_create
    from tests.governance.helpers import People, full_evidence, version_for

    people = People(make_user)
    client.force_login(people.root)
    version = version_for(people)
    full_evidence(version)
    request = services.promotion_request_create(version=version, target_stage="production", justification="go",
                                                by=people.dev)
    token, _ = token_create(user=people.dev, name="laptop")
    report, policy = version.reports.first(), Policy.objects.get(is_active=True)
    group = Group.objects.get(name="auditor")
    pages = {
        "registry.registeredmodel": (version.model.pk, f"/admin/registry/registeredmodel/{version.model.pk}/change/"),
        "registry.modelversion": (version.pk, f"/admin/registry/modelversion/{version.pk}/change/"),
        "governance.policy": (policy.pk, f"/admin/governance/policy/{policy.pk}/change/"),
        "governance.promotionrequest": (request.pk, f"/admin/governance/promotionrequest/{request.pk}/review/"),
        "governance.apitoken": (token.pk, f"/admin/governance/apitoken/{token.pk}/change/"),
        "reports.report": (report.pk, f"/admin/reports/report/{report.pk}/change/"),
        "auth.user": (people.dev.pk, f"/admin/auth/user/{people.dev.pk}/change/"),
        "auth.group": (group.pk, f"/admin/auth/group/{group.pk}/change/"),
    }
    for object_type, (pk, url) in pages.items():
        page = client.get(url)
        assert page.status_code == 200, url
        link = f"/admin/audit/auditentry/?object_type={object_type}&amp;object_id={pk}"
        assert link in page.content.decode(), url
        listed = client.get(link.replace("&amp;", "&")).context["cl"].result_list
        assert listed and {(e.object_type, e.object_id) for e in listed} == {(object_type, str(pk))}, url


@pytest.fixture
def world(make_user: Any) -> People:
    return staff_world(make_user)


@pytest.mark.parametrize("query", ["until=9999-12-31", "since=9999-12-31&until=9999-12-31", "q=%C2%B2", "q=1%C2%B2",
                                   "q=%E2%91%A0"])
def test_the_audit_log_list_takes_extreme_dates_and_unicode_digits(client: Any, world: Any, query: str) -> None:
    client.force_login(world.aud)
    assert client.get(f"/admin/audit/auditentry/?{query}").status_code == 200
