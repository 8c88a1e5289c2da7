"""The policy in force and the rules it holds: one policy in force at most, however activations race or
rows are written, and bias thresholds refused unless they are numbers in their range (read safely if
stored before that check)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import rfc8785
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from audit import db_guards, writer
from audit.context import audit_context, system_actor
from audit.models import AuditEntry
from config.errors import InvalidInput
from governance import policies, services
from governance.models import Policy
from governance.policies import default_rules
from reports.bias import BiasThresholds
from tests.governance.helpers import People
from tests.multiproc import run_processes

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


def _entries(action: str, policy: Policy) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, object_type="governance.policy",
                                          object_id=str(policy.pk)).order_by("seq"))


# One policy in force ------------------------------------------------------------------------------------


def activate_through_api(index: int, policy_ids: list[int]) -> int:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="localhost")
    client.force_authenticate(get_user_model().objects.get(username="gov"))
    return client.post(f"/api/v1/policies/{policy_ids[index]}/activate/").status_code


def activate_and_hold(index: int, policy_ids: list[int], hold: float) -> str:
    """Activate, then keep the transaction open a while: the other activation starts before this commits."""
    import time

    from django.contrib.auth import get_user_model

    from audit.context import audit_context, user_actor

    user = get_user_model().objects.get(username="gov")
    with audit_context(actor=user_actor(user), channel="api"), transaction.atomic():
        policy = services.policy_activate(policy=Policy.objects.get(pk=policy_ids[index]), by=user)
        time.sleep(hold)
    return policy.name


def create_in_force_and_hold(index: int, names: list[str], hold: float) -> str:
    import time

    from django.contrib.auth import get_user_model

    from audit.context import audit_context, user_actor

    user = get_user_model().objects.get(username="gov")
    with audit_context(actor=user_actor(user), channel="api"), transaction.atomic():
        policy = services.policy_create(by=user, name=names[index], activate=True)
        time.sleep(hold)
    return policy.name


def _assert_one_in_force_and_every_activation_recorded(activated: list[Policy]) -> None:
    assert Policy.objects.filter(is_active=True).count() == 1
    in_force = Policy.objects.get(is_active=True)
    activations = {p.name: _entries("governance.policy.activate", p) for p in activated}
    assert all(len(entries) == 1 for entries in activations.values()), activations
    # The one in force is the one activated last; each before it was taken out of force after its own activation.
    last = max(activated, key=lambda p: activations[p.name][0].seq)
    assert in_force == last
    for policy in activated:
        deactivations = _entries("governance.policy.deactivate", policy)
        if policy == last:
            assert deactivations == []
        else:
            assert len(deactivations) == 1 and deactivations[0].seq > activations[policy.name][0].seq
    assert len(_entries("governance.policy.deactivate", Policy.objects.get(name="default"))) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_activations_through_the_api_leave_one_policy_in_force(people: People) -> None:
    candidates = [services.policy_create(by=people.gov, name=f"p{i}") for i in range(4)]
    results = run_processes("tests.governance.test_policy_integrity:activate_through_api", len(candidates),
                            [p.pk for p in candidates])
    assert [r[1:] for r in results] == [("ok", 200)] * len(candidates), results
    _assert_one_in_force_and_every_activation_recorded(candidates)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_activation_waits_for_one_in_flight_and_takes_its_policy_out_of_force(people: People) -> None:
    """Locking only the policies already in force let the second miss the first's: both stayed in force."""
    candidates = [services.policy_create(by=people.gov, name=name) for name in ("a", "b")]
    results = run_processes("tests.governance.test_policy_integrity:activate_and_hold", 2,
                            [p.pk for p in candidates], 0.5)
    assert sorted(r[1:] for r in results) == [("ok", "a"), ("ok", "b")], results
    _assert_one_in_force_and_every_activation_recorded(candidates)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_policies_created_in_force_with_none_before_them_are_a_conflict_not_two_in_force(
        people: People) -> None:
    """With no row yet, there is nothing to lock: the constraint refuses the second, answered as a conflict."""
    with db_guards.suspended(connection), connection.cursor() as cursor:  # a database before its first policy
        cursor.execute("DELETE FROM governance_policy")
    last_seq = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True)[0]
    results = run_processes("tests.governance.test_policy_integrity:create_in_force_and_hold", 2, ["a", "b"], 0.5)
    outcomes = sorted(r[1:] for r in results)
    # Either the second is refused as a conflict, or (the log's head locked by the first's creation entry, which
    # the activation's nested block appends first) it waits for the first to commit and takes it out of force.
    # Never two in force, and nothing without its entry.
    assert Policy.objects.filter(is_active=True).count() == 1
    in_force = Policy.objects.get(is_active=True)
    entries = set(AuditEntry.objects.filter(seq__gt=last_seq).values_list("action", "object_id"))
    if outcomes[0][0] == "error":
        assert outcomes[0][1] == ("Conflict: another policy was put in force at the same moment; nothing was "
                                  "changed: try again")
        assert in_force.name == outcomes[1][1] and Policy.objects.count() == 1
        # The refused one left nothing behind: neither its policy nor an entry.
        assert entries == {("governance.policy.activate", str(in_force.pk)),
                           ("governance.policy.create", str(in_force.pk))}
    else:
        assert [o[0] for o in outcomes] == ["ok", "ok"], results
        for policy in Policy.objects.all():
            assert ("governance.policy.create", str(policy.pk)) in entries
            assert ("governance.policy.activate", str(policy.pk)) in entries


def test_activating_a_policy_loaded_before_another_activation_puts_it_in_force(people: People) -> None:
    """The instance passed in may say it is in force when it no longer is: the row decides, not the instance."""
    a, b = (services.policy_create(by=people.gov, name=name) for name in ("a", "b"))
    services.policy_activate(policy=b, by=people.gov)
    stale = Policy.objects.get(pk=b.pk)
    services.policy_activate(policy=a, by=people.gov)
    assert services.policy_activate(policy=stale, by=people.gov).is_active
    assert Policy.objects.get(is_active=True) == b
    assert len(_entries("governance.policy.activate", b)) == 2


def test_creating_a_policy_in_force_returns_it_in_force(people: People) -> None:
    created = services.policy_create(by=people.gov, name="new", activate=True)
    assert created.is_active and Policy.objects.get(is_active=True) == created
    assert services.active_policy() == created


def test_the_database_refuses_a_second_policy_in_force_written_by_sql(people: People) -> None:
    other = services.policy_create(by=people.gov, name="other")
    # Past the guard of unrecorded writes (audit.row_guards), as a superuser could: the constraint still refuses.
    with pytest.raises(IntegrityError), db_guards.suspended(connection), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("UPDATE governance_policy SET is_active = %s WHERE id = %s", [True, other.pk])
    assert list(Policy.objects.filter(is_active=True).values_list("name", flat=True)) == ["default"]


def test_the_database_refuses_a_second_policy_in_force_saved_past_the_service(people: People) -> None:
    other = services.policy_create(by=people.gov, name="other")
    entries = AuditEntry.objects.count()
    other.is_active = True
    with pytest.raises(IntegrityError), writer.atomic():
        writer.save(other, action="governance.policy.activate")
    assert list(Policy.objects.filter(is_active=True).values_list("name", flat=True)) == ["default"]
    assert AuditEntry.objects.count() == entries


@pytest.mark.django_db(transaction=True)
def test_migrate_refuses_a_database_with_two_policies_in_force(people: People) -> None:
    other = services.policy_create(by=people.gov, name="other")
    call_command("migrate", "governance", "0004", verbosity=0)
    try:
        with db_guards.suspended(connection), connection.cursor() as cursor:  # as a release before the guards
            cursor.execute("UPDATE governance_policy SET is_active = %s", [True])
        with pytest.raises(CommandError, match=r"2 policies are in force \(default, other\); at most one may be"):
            call_command("migrate", verbosity=0)
        assert Policy.objects.filter(is_active=True).count() == 2  # refused, not repaired
        # What the message asks for: this release's roles need a table that comes after this migration, so an
        # operator puts the policy in force from the shell.
        with audit_context(actor=system_actor("operator shell"), channel="system"):
            services.policy_activate(policy=other, by=None)
    finally:
        # Every app: migrating governance back unapplied the apps that depend on it (monitoring) too.
        call_command("migrate", verbosity=0)
    assert Policy.objects.get(is_active=True) == other


# Bias thresholds ----------------------------------------------------------------------------------------

RATIO = "greater than 0 and at most 1"
DIFFERENCE = "from 0 to 1"
BAD_THRESHOLDS = [
    ("impact_ratio", 2**60, RATIO), ("impact_ratio", "abc", RATIO), ("impact_ratio", True, RATIO),
    ("impact_ratio", None, RATIO), ("impact_ratio", [1], RATIO), ("impact_ratio", -0.5, RATIO),
    ("impact_ratio", 0, RATIO), ("demographic_parity_ratio", 1.01, RATIO),
    ("equalized_odds_ratio", {"v": 0.8}, RATIO), ("demographic_parity_difference", -0.01, DIFFERENCE),
    ("equalized_odds_difference", 1.5, DIFFERENCE), ("equal_opportunity_difference", "0.1", DIFFERENCE),
    ("equal_opportunity_difference", False, DIFFERENCE),
]


def _rules_with(thresholds: dict[str, Any], stage: str = "production", tier: str = "high") -> dict[str, Any]:
    rules = default_rules()
    rules[stage][tier]["bias_thresholds"] = thresholds
    return rules


@pytest.mark.parametrize(("key", "value", "allowed"), BAD_THRESHOLDS)
def test_a_bias_threshold_outside_its_range_is_400_and_nothing_is_written(
        api: Any, people: People, key: str, value: Any, allowed: str) -> None:
    policy = Policy.objects.get()
    entries = AuditEntry.objects.count()
    api.force_authenticate(people.gov)
    rules = _rules_with({**policies.DEFAULT_RULES["production"]["high"]["bias_thresholds"], key: value})
    edited = api.patch(f"/api/v1/policies/{policy.pk}/", {"rules": rules}, format="json")
    created = api.post("/api/v1/policies/", {"name": "p2", "rules": rules}, format="json")
    for resp in (edited, created):
        assert resp.status_code == 400
        assert resp.json()["detail"] == f"rules.production.high.bias_thresholds.{key} must be a number {allowed}"
    assert AuditEntry.objects.count() == entries
    assert list(Policy.objects.values_list("name", "version")) == [("default", 1)]
    assert Policy.objects.get().rules == default_rules()


def test_an_unknown_bias_threshold_is_400_naming_it(api: Any, people: People) -> None:
    policy = Policy.objects.get()
    entries = AuditEntry.objects.count()
    api.force_authenticate(people.gov)
    resp = api.patch(f"/api/v1/policies/{policy.pk}/", {"rules": _rules_with({"impact_ration": 0.8}, "staging", "low")},
                     format="json")
    assert resp.status_code == 400
    assert resp.json()["detail"].startswith("rules.staging.low.bias_thresholds.impact_ration is not a bias threshold; "
                                            "the thresholds are demographic_parity_difference, ")
    assert AuditEntry.objects.count() == entries and Policy.objects.get().version == 1


def test_a_bias_threshold_that_is_not_a_finite_number_is_400(api: Any, people: People) -> None:
    policy = Policy.objects.get()
    api.force_authenticate(people.gov)
    body = json.dumps({"rules": _rules_with({"impact_ratio": 0.8})}).replace("0.8}", "NaN}")
    assert "NaN" in body
    resp = api.patch(f"/api/v1/policies/{policy.pk}/", body, content_type="application/json")
    assert resp.status_code == 400
    with pytest.raises(InvalidInput, match=r"rules\.production\.high\.bias_thresholds\.impact_ratio must be a "):
        services.policy_update(policy=policy, by=people.gov, rules_=_rules_with({"impact_ratio": float("nan")}))
    assert Policy.objects.get().version == 1


@pytest.mark.parametrize(("key", "value", "allowed"), BAD_THRESHOLDS[:3])
def test_the_service_and_the_admin_refuse_a_bad_bias_threshold(client: Any, people: People, key: str, value: Any,
                                                               allowed: str) -> None:
    policy = Policy.objects.get()
    rules = _rules_with({key: value}, "staging", "medium")
    message = f"rules.staging.medium.bias_thresholds.{key} must be a number {allowed}"
    with pytest.raises(InvalidInput, match=re.escape(message)):
        services.policy_update(policy=policy, by=people.gov, rules_=rules)
    with pytest.raises(InvalidInput, match=re.escape(message)):
        services.policy_create(by=people.gov, name="p2", rules_=rules)
    client.force_login(people.gov)
    typed = json.dumps(rules)
    resp = client.post(f"/admin/governance/policy/{policy.pk}/change/", {"description": "d", "rules": typed})
    # The form comes back as it was sent, with the refusal as its error: the typed rules are not lost.
    form = resp.context["adminform"].form
    assert resp.status_code == 200 and form.non_field_errors() == [f"Refused: {message}"]
    assert json.loads(form["rules"].value()) == rules
    assert list(Policy.objects.values_list("name", "version")) == [("default", 1)]


def test_bias_thresholds_in_range_are_stored(api: Any, people: People) -> None:
    policy = Policy.objects.get()
    api.force_authenticate(people.gov)
    thresholds = {"impact_ratio": 1, "demographic_parity_ratio": 1e-9, "equalized_odds_ratio": 0.5,
                  "demographic_parity_difference": 0, "equalized_odds_difference": 1,
                  "equal_opportunity_difference": 0.25}
    resp = api.patch(f"/api/v1/policies/{policy.pk}/", {"rules": _rules_with(thresholds)}, format="json")
    assert resp.status_code == 200, resp.json()
    resp = api.patch(f"/api/v1/policies/{policy.pk}/", {"rules": _rules_with({}, "staging", "low")}, format="json")
    assert resp.status_code == 200, resp.json()
    stored = Policy.objects.get()
    assert stored.version == 3 and stored.rules["staging"]["low"]["bias_thresholds"] == {}
    assert len(_entries("governance.policy.update", stored)) == 2
    assert policies.bias_thresholds(_rules_with(thresholds)["production"]["high"]) == thresholds


def test_bias_thresholds_stored_before_the_check_are_read_safely(people: People) -> None:
    """A policy saved by an older release may hold any value: reading it gives thresholds a report can use
    and the audit log can record (2**60 is beyond what RFC 8785 can write, "abc" what float() can read)."""
    stored = {"impact_ratio": 2**60, "demographic_parity_ratio": "abc", "equalized_odds_ratio": -3,
              "demographic_parity_difference": None, "equalized_odds_difference": [1],
              "equal_opportunity_difference": True, "impact_ration": 0.5}
    with db_guards.suspended(connection), connection.cursor() as cursor:  # as an older release left it
        cursor.execute("UPDATE governance_policy SET rules = %s", [json.dumps(_rules_with(stored))])
    rule = Policy.objects.get().rules["production"]["high"]
    assert rule["bias_thresholds"] == stored  # kept as stored
    read = policies.bias_thresholds(rule)
    assert read == {"impact_ratio": 1.0, "demographic_parity_ratio": 0.8, "equalized_odds_ratio": 0.0,
                    "demographic_parity_difference": 0.1, "equalized_odds_difference": 0.1,
                    "equal_opportunity_difference": 0.1}
    rfc8785.dumps({"bias_thresholds": read})
    assert BiasThresholds.from_dict(read).impact_ratio == 1.0
    assert policies.bias_thresholds({"bias_thresholds": "abc"}) == {} == policies.bias_thresholds({})
    # The policy can still be edited; an edit of its rules must put the thresholds right.
    policy = services.policy_update(policy=Policy.objects.get(), by=people.gov, description="d")
    with pytest.raises(InvalidInput, match=r"bias_thresholds\.impact_ratio must be a number"):
        services.policy_update(policy=policy, by=people.gov, rules_=policy.rules)
    assert Policy.objects.get().version == 2
