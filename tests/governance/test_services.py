"""The workflow through its services: requests, separation of duties, gates, promotion, lapse, expiry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from audit.context import audit_context, system_actor
from audit.models import AuditEntry
from config.errors import Conflict, InvalidInput, PermissionDenied
from governance import services
from governance.models import Policy, PromotionRequest
from registry.models import ModelVersion
from tests.factories import make_version
from tests.governance.helpers import People, add_report, full_evidence, staff_world, version_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return People(make_user)


@pytest.fixture
def version(people):
    return version_for(people, tier="high")


def _request(people, version, stage="production"):
    return services.promotion_request_create(version=version, target_stage=stage, justification="ready", by=people.dev)


def _approve_all(people, request):
    services.approval_record(request=request, by=people.val, role="validator", decision="approve", comment="ok")
    services.approval_record(request=request, by=people.risk, role="risk_officer", decision="approve")
    return services.approval_record(request=request, by=people.comp, role="compliance_officer", decision="approve")


def test_default_policy_is_active_and_frozen_on_request(people, version):
    policy = Policy.objects.get(is_active=True)
    request = _request(people, version)
    assert request.policy_rule["approvals"] == {"validator": 1, "risk_officer": 1, "compliance_officer": 1}
    assert len(request.policy_sha256) == 64
    rules = policy.rules
    rules["production"]["high"]["approvals"] = {"validator": 3}
    services.policy_update(policy=policy, by=people.gov, rules_=rules)
    request.refresh_from_db()
    assert request.policy_rule["approvals"]["validator"] == 1
    assert request.policy_version == 1 and Policy.objects.get().version == 2
    entry = AuditEntry.objects.filter(action="governance.policy.update").get().as_json()
    assert entry["changes"]["version"] == {"old": 1, "new": 2}


def test_default_policy_description_names_the_policy_document():
    # The shipped description once named governance/POLICIES.md, a file that never existed.
    policy = Policy.objects.get(name="default")
    assert policy.description == "The shipped default policy (docs/policies.md)."
    assert (settings.BASE_DIR / "docs" / "policies.md").is_file()
    created = AuditEntry.objects.filter(action="governance.policy.create").get().as_json()
    assert created["changes"]["description"]["new"] == policy.description


def test_full_approval_promotes_and_archives_previous(people, version):
    full_evidence(version)
    request = _approve_all(people, _request(people, version))
    assert request.status == "approved"
    version.refresh_from_db()
    assert version.stage == "production"
    v2 = make_version(version.model, people.dev, metrics={"roc_auc": 0.9})
    full_evidence(v2)
    _approve_all(people, services.promotion_request_create(version=v2, target_stage="production",
                                                           justification="better", by=people.dev))
    assert ModelVersion.objects.get(pk=version.pk).stage == "archived"
    assert ModelVersion.objects.get(pk=v2.pk).stage == "production"
    stage_changes = AuditEntry.objects.filter(action="registry.modelversion.stage_change").order_by("seq")
    assert [e.as_json()["changes"]["stage"]["new"] for e in stage_changes] == ["production", "archived", "production"]
    assert stage_changes[0].as_json()["changes"]["promotion_request"]["new"] == request.pk


@pytest.mark.parametrize("who, rule", [
    ("dev", "role.required"), ("root", "role.required"), ("aud", "role.required"),
])
def test_only_role_holders_decide(people, version, who, rule):
    request = _request(people, version)
    with pytest.raises(PermissionDenied) as err:
        services.approval_record(request=request, by=getattr(people, who), role="validator", decision="approve")
    assert err.value.rule == rule


def test_separation_of_duties(people, make_user):
    version = version_for(people)
    full_evidence(version)
    # The requester holds the validator role too, and so does the version's creator: neither may decide.
    from django.contrib.auth.models import Group

    with audit_context(actor=system_actor("test fixtures"), channel="system"):
        for user in (people.dev, people.dev2):
            user.groups.add(Group.objects.get(name="model validator"))
    request = services.promotion_request_create(version=version, target_stage="production", justification="x",
                                                by=people.dev2)
    with pytest.raises(PermissionDenied) as err:
        services.approval_record(request=request, by=people.dev2, role="validator", decision="approve")
    assert err.value.rule == "sod.requester_cannot_decide"
    with pytest.raises(PermissionDenied) as err:
        services.approval_record(request=request, by=people.dev, role="validator", decision="approve")
    assert err.value.rule == "sod.creator_cannot_decide"
    services.approval_record(request=request, by=people.multi, role="validator", decision="approve")
    with pytest.raises(PermissionDenied) as err:
        services.approval_record(request=request, by=people.multi, role="risk_officer", decision="approve")
    assert err.value.rule == "sod.one_slot_per_person"
    with pytest.raises(Conflict):
        services.approval_record(request=request, by=people.val, role="validator", decision="approve")


def test_superuser_with_the_role_is_still_bound_by_separation_of_duties(people):
    from django.contrib.auth.models import Group

    with audit_context(actor=system_actor("test fixtures"), channel="system"):
        people.root.groups.add(Group.objects.get(name="model validator"), Group.objects.get(name="model developer"))
    version = version_for(people)
    from registry.services.model import registered_model_set_developers

    registered_model_set_developers(model=version.model, developers=[people.dev2, people.root], by=people.dev)
    request = services.promotion_request_create(version=version, target_stage="production", justification="x",
                                                by=people.root)
    with pytest.raises(PermissionDenied) as err:
        services.approval_record(request=request, by=people.root, role="validator", decision="approve")
    assert err.value.rule == "sod.requester_cannot_decide"


def test_reject_needs_comment_and_ends_request(people, version):
    request = _request(people, version)
    with pytest.raises(InvalidInput):
        services.approval_record(request=request, by=people.val, role="validator", decision="reject")
    services.approval_record(request=request, by=people.val, role="validator", decision="reject", comment="AUC weak")
    request.refresh_from_db()
    assert request.status == "rejected"
    with pytest.raises(Conflict):
        services.approval_record(request=request, by=people.risk, role="risk_officer", decision="approve")


def test_an_approval_is_refused_while_required_evidence_is_missing_failing_or_stale(people, version):
    request = _request(people, version)
    with pytest.raises(Conflict) as err:
        services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    assert err.value.rule == "evidence.not_ready"
    assert "no succeeded bias report" in err.value.message and "lineage" in err.value.message
    add_report(version, "bias", "fail")
    add_report(version, "explainability", "info")
    add_report(version, "lineage", "info", finished_at=timezone.now() - dt.timedelta(days=400))
    with pytest.raises(Conflict) as err:
        services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    assert "verdict is fail, not pass" in err.value.message and "stale" in err.value.message
    assert "explainability" not in err.value.message  # present, so not named
    assert not request.approvals.exists()
    # A rejection needs no evidence: it ends the request, freezing the gates it was decided on.
    services.approval_record(request=request, by=people.val, role="validator", decision="reject", comment="bias")
    request.refresh_from_db()
    assert request.status == "rejected"
    assert {g["name"]: g["passed"] for g in request.decision_gates}["evidence.bias"] is False


def test_approvals_lapse_when_evidence_changes(people, version):
    full_evidence(version)
    request = _request(people, version)
    services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    add_report(version, "bias", "pass", digest="b")  # new evidence
    services.approval_record(request=request, by=people.risk, role="risk_officer", decision="approve")
    lapsed = request.approvals.get(approver=people.val)
    assert lapsed.lapsed_at is not None and "evidence changed" in lapsed.lapse_reason
    request = services.approval_record(request=request, by=people.comp, role="compliance_officer",
                                       decision="approve")
    assert request.status == "pending"
    request = services.approval_record(request=request, by=people.val2, role="validator", decision="approve")
    assert request.status == "approved"
    assert AuditEntry.objects.filter(action="governance.approval.lapse").count() == 1


def test_stale_and_foreign_evidence_fail_gates(people, version):
    from governance import gates

    add_report(version, "bias", finished_at=timezone.now() - dt.timedelta(days=400))
    add_report(version, "explainability", artifact="f" * 64)
    results = {g.name: g for g in gates.evaluate(version, Policy.objects.get().rules["production"]["high"])}
    assert not results["evidence.bias"].passed and "stale" in results["evidence.bias"].detail
    assert not results["evidence.explainability"].passed
    assert not results["evidence.lineage"].passed
    # The version declares roc_auc 0.82; no performance report measured it, so its gate does not pass.
    assert not results["metric.roc_auc"].passed and "not measured" in results["metric.roc_auc"].detail


def test_expiry_and_withdraw(people, version):
    request = _request(people, version)
    assert services.promotion_requests_expire(now=timezone.now() + dt.timedelta(days=31)) == 1
    request.refresh_from_db()
    assert request.status == "expired"
    other = _request(people, version, "staging")
    with pytest.raises(PermissionDenied):
        services.promotion_request_withdraw(request=other, by=people.val)
    assert services.promotion_request_withdraw(request=other, by=people.dev).status == "withdrawn"


def test_revalidation_opens_request(people, version):
    full_evidence(version)
    _approve_all(people, _request(people, version))
    opened = services.revalidation_open_due(now=timezone.now() + dt.timedelta(days=366))
    assert len(opened) == 1 and opened[0].is_revalidation and opened[0].requested_by is None
    assert services.revalidation_open_due(now=timezone.now() + dt.timedelta(days=366)) == []


def test_approvers_are_emailed_after_commit(people, version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _request(people, version)
    assert len(mail.outbox) == 1
    assert {"val@example.com", "risk@example.com", "comp@example.com"} <= set(mail.outbox[0].to)
    assert "dev@example.com" not in mail.outbox[0].to


def test_only_developers_of_the_model_request(people, make_user):
    version = version_for(people)
    stranger = make_user("stranger", "model developer")
    with pytest.raises(PermissionDenied):
        services.promotion_request_create(version=version, target_stage="staging", justification="x", by=stranger)
    assert PromotionRequest.objects.count() == 0


@pytest.fixture
def world(make_user: Any) -> People:
    return staff_world(make_user)


@pytest.mark.parametrize("justification", ["go\x00", "x" * 10_001, 5])
def test_a_justification_is_checked_in_the_service_for_every_channel(world: Any, justification: Any) -> None:
    from config.errors import InvalidInput

    with pytest.raises(InvalidInput):
        services.promotion_request_create(version=world.version, target_stage="staging",
                                          justification=justification, by=world.dev)


def test_a_policy_saved_unchanged_keeps_its_version_and_a_long_description_is_refused(world: Any) -> None:
    from config.errors import InvalidInput
    from governance.models import Policy

    policy = Policy.objects.get(is_active=True)
    version, before = policy.version, AuditEntry.objects.count()
    services.policy_update(policy=policy, by=world.gov, rules_=policy.rules, description=policy.description)
    policy.refresh_from_db()
    assert policy.version == version and AuditEntry.objects.count() == before
    with pytest.raises(InvalidInput, match="longer than"):
        services.policy_update(policy=policy, by=world.gov, description="x" * 10_001)
    with pytest.raises(InvalidInput, match="longer than"):
        services.policy_create(by=world.gov, name="long", description="x" * 10_001)
    services.policy_update(policy=policy, by=world.gov, description="changed")
    policy.refresh_from_db()
    assert policy.version == version + 1 and AuditEntry.objects.count() == before + 1
