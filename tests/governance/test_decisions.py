"""Decisions judged at their moment, through the services (the shell's channel): people over time, expiry,
evidence, completion by whatever change completes a request, and what a decided request keeps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from audit import writer
from audit.context import audit_context, system_actor, user_actor
from audit.models import AuditEntry
from config.errors import Conflict, PermissionDenied
from governance import accounts, policies, selectors, services
from governance.models import Approval, Policy
from governance.roles import MODEL_VALIDATOR
from registry.models import ModelPersonnel
from registry.services.model import registered_model_edit, registered_model_set_developers
from tests.factories import make_model, make_version
from tests.governance.helpers import People, add_report, full_evidence, version_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return People(make_user)


def _approve(request, user, role):
    return services.approval_record(request=request, by=user, role=role, decision="approve")


def _set_developers(people, model, developers):
    with audit_context(actor=user_actor(people.dev), channel="system"):
        registered_model_set_developers(model=model, developers=developers, by=people.dev)


def _request(people, version, stage="production"):
    return services.promotion_request_create(version=version, target_stage=stage, justification="go", by=people.dev)


def _give_validator_role(user):
    with audit_context(actor=system_actor("test"), channel="system"):
        user.groups.add(Group.objects.get(name="model validator"))


def test_a_developer_removed_for_the_moment_of_approval_is_still_refused(people):
    version = version_for(people)  # dev2 develops the model
    full_evidence(version)
    _give_validator_role(people.dev2)
    request = _request(people, version)
    _set_developers(people, version.model, [])  # the owner takes dev2 off the model...
    with pytest.raises(PermissionDenied) as err:
        _approve(request, people.dev2, "validator")  # ...but dev2 was on it since the version's registration
    assert err.value.rule == "sod.developer_cannot_decide"
    _set_developers(people, version.model, [people.dev2])  # and back on
    assert not Approval.objects.exists()
    spells = ModelPersonnel.objects.filter(model=version.model, user=people.dev2).order_by("id")
    assert [(s.role, s.ended_at is None) for s in spells] == [("developer", False), ("developer", True)]
    assert AuditEntry.objects.filter(action="registry.modelpersonnel.end", object_id=str(spells[0].pk)).count() == 1


def test_an_approval_lapses_in_the_transaction_that_makes_its_approver_a_developer(
        people, django_capture_on_commit_callbacks):
    model = make_model(people.dev, "fresh", risk_tier="high")
    version = make_version(model, people.dev)  # registered while dev2 was never on the model
    full_evidence(version)
    _give_validator_role(people.dev2)
    request = _request(people, version)
    _approve(request, people.dev2, "validator")  # allowed: not on the model since this version
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _set_developers(people, model, [people.dev2])
    approval = Approval.objects.get(approver=people.dev2)
    assert approval.lapsed_at is not None and "owner or developer" in approval.lapse_reason
    lapse = AuditEntry.objects.get(action="governance.approval.lapse").as_json()
    developers_set = AuditEntry.objects.get(action="registry.registeredmodel.developers_set")
    # One transaction: the lapse's entry is appended with the change that caused it, not at the next action.
    assert abs(lapse["seq"] - developers_set.seq) <= 3
    assert [m.to for m in mail.outbox] == [["dev2@example.com"]]
    _approve(request, people.risk, "risk_officer")
    request = _approve(request, people.comp, "compliance_officer")
    assert request.status == "pending"  # the validator slot is open again


def test_a_validator_made_owner_before_the_last_approval_fills_no_slot(people):
    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    _approve(request, people.val, "validator")
    _approve(request, people.risk, "risk_officer")
    with audit_context(actor=user_actor(people.dev), channel="system"):
        registered_model_edit(model=version.model, by=people.dev, owner=people.val)
    assert Approval.objects.get(approver=people.val).lapsed_at is not None
    request = _approve(request, people.comp, "compliance_officer")
    assert request.status == "pending"
    version.refresh_from_db()
    assert version.stage == "none"
    assert selectors.request_detail(request, people.val2)["you_may_act_as"] == ["validator"]
    assert selectors.request_detail(request, people.val)["you_may_act_as"] == []


def test_an_owner_set_from_a_shell_past_the_services_is_still_recorded_and_counted(people):
    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    model = version.model
    model.owner = people.val
    with audit_context(actor=system_actor("a shell")):
        writer.save(model)  # no service, no lock: the record follows the row all the same
    with pytest.raises(PermissionDenied) as err:
        _approve(request, people.val, "validator")
    assert err.value.rule == "sod.developer_cannot_decide"
    assert ModelPersonnel.objects.filter(model=model, user=people.dev, role="owner", ended_at__isnull=False).exists()


def test_completion_rechecks_each_counted_approval_against_the_rule(people):
    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    _approve(request, people.val, "validator")
    _approve(request, people.risk, "risk_officer")
    with audit_context(actor=system_actor("test"), channel="system"):
        people.val.groups.remove(Group.objects.get(name="model validator"))
    request = _approve(request, people.comp, "compliance_officer")
    assert request.status == "pending"
    lapsed = Approval.objects.get(approver=people.val)
    assert lapsed.lapsed_at is not None and "you do not hold the role" in lapsed.lapse_reason


def test_a_request_40_days_past_a_one_day_ttl_is_expired_by_the_first_decision(people, clock):
    policy = Policy.objects.get()
    rules_ = policy.rules
    rules_["production"]["high"]["request_ttl_days"] = 1
    services.policy_update(policy=policy, by=people.gov, rules_=rules_)
    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    _approve(request, people.val, "validator")
    _approve(request, people.risk, "risk_officer")
    clock.advance(days=40)
    with pytest.raises(Conflict) as err:
        _approve(request, people.comp, "compliance_officer")
    assert err.value.rule == "request.expired"
    request.refresh_from_db()
    assert request.status == "expired" and request.decided_at is not None
    assert AuditEntry.objects.filter(action="governance.promotionrequest.expire").count() == 1
    assert not Approval.objects.filter(approver=people.comp).exists()
    version.refresh_from_db()
    assert version.stage == "none"
    assert services.promotion_requests_expire() == 0  # the job finds nothing left to do


def test_a_request_past_its_ttl_reads_as_expired_and_leaves_every_queue(people, clock):
    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    assert list(selectors.awaiting(people.val)) == [request]
    clock.advance(days=31)
    assert list(selectors.awaiting(people.val)) == []
    detail = selectors.request_detail(selectors.request_list().get(pk=request.pk), people.val)
    assert detail["status"] == "expired" and detail["you_may_act_as"] == []
    with pytest.raises(Conflict):
        services.approval_record(request=request, by=people.val, role="validator", decision="reject", comment="x")


def test_an_approval_past_its_validity_no_longer_counts(people, clock):
    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    _approve(request, people.val, "validator")
    _approve(request, people.risk, "risk_officer")
    clock.advance(hours=24 * 7, seconds=1)  # the policy's approval_valid_hours (168), and a second
    request = _approve(request, people.comp, "compliance_officer")
    assert request.status == "pending"
    assert "no longer valid" in Approval.objects.get(approver=people.val).lapse_reason


def test_evidence_arriving_completes_the_request_in_its_own_transaction(people):
    # A policy whose staging rule for low-tier models has a ROC AUC gate but requires no report as evidence: the
    # approval is given while the metric is not measured, and the performance report's arrival completes the
    # request; nobody has to act again.
    rules_ = policies.default_rules()
    rules_["staging"]["low"]["evidence"] = {}
    services.policy_create(by=people.gov, name="metric gate only", rules_=rules_, activate=True)
    version = version_for(people, tier="low", metrics={})
    request = _request(people, version, stage="staging")
    request = _approve(request, people.val, "validator")
    assert request.status == "pending"
    add_report(version, "performance", "info")
    request.refresh_from_db()
    version.refresh_from_db()
    assert request.status == "approved" and version.stage == "staging"
    assert {g["name"]: g["passed"] for g in request.decision_gates} == {"metric.roc_auc": True}
    succeed = AuditEntry.objects.get(action="reports.report.succeed").seq
    approve = AuditEntry.objects.get(action="governance.promotionrequest.approve").seq
    assert 0 < approve - succeed <= 3


def test_new_evidence_lapses_the_approvals_it_replaces_at_once_and_tells_their_approvers(
        people, django_capture_on_commit_callbacks):
    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    _approve(request, people.val, "validator")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        add_report(version, "bias", "pass", digest="b")
    lapsed = Approval.objects.get(approver=people.val)
    assert lapsed.lapsed_at is not None and "evidence changed since this approval: bias" in lapsed.lapse_reason
    assert [m.to for m in mail.outbox] == [["val@example.com"]]
    assert "lapsed" in mail.outbox[0].subject
    # A report of a kind the approval never saw and the rule does not require changes nothing.
    staging = version_for(people, tier="medium", name="medium")  # staging/medium requires only bias
    add_report(staging, "bias", "pass")
    other = _request(people, staging, stage="staging")
    del other
    assert Approval.objects.filter(lapsed_at__isnull=True).count() == 0


def test_a_decided_request_keeps_its_gates_and_evidence_and_shows_later_evidence_apart(people):
    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    for user, role in ((people.val, "validator"), (people.risk, "risk_officer"), (people.comp, "compliance_officer")):
        request = _approve(request, user, role)
    assert request.status == "approved"
    at_decision = dict(request.decision_evidence)
    later = add_report(version, "lineage", "info", digest="c")
    request = selectors.request_list().get(pk=request.pk)
    detail = selectors.request_detail(request, people.aud)
    assert detail["evidence"] == at_decision
    assert [g["name"] for g in detail["gates"]] == ["evidence.bias", "evidence.explainability", "evidence.lineage",
                                                    "evidence.performance", "metric.roc_auc"]
    assert all(g["passed"] for g in detail["gates"])
    assert [e["report_id"] for e in detail["evidence_not_reviewed"]] == [later.pk]
    assert all(a.evidence_digests == at_decision for a in request.approvals.all())


def test_the_queue_leaves_out_what_the_user_may_not_decide(people, make_user):
    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    _give_validator_role(people.dev2)  # develops the model
    assert list(selectors.awaiting(people.dev2)) == []
    _approve(request, people.val, "validator")  # the one validator slot is filled
    assert list(selectors.awaiting(people.val2)) == []
    assert list(selectors.awaiting(people.multi)) == [request]  # as risk officer
    assert list(selectors.awaiting(people.risk)) == [request]
    _set_developers(people, version.model, [people.dev2, people.risk])
    assert list(selectors.awaiting(people.risk)) == []
    _set_developers(people, version.model, [people.dev2])
    assert list(selectors.awaiting(people.risk)) == []  # was on the model since the version's registration


def test_an_approval_lapses_in_the_transaction_that_takes_its_approvers_role(
        people, django_capture_on_commit_callbacks):
    # Was: the validator's role revoked after approving, the approval still filled the slot for the queue and the
    # request's page (nobody saw the request awaiting them) until some other action settled it.
    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    _approve(request, people.val, "validator")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True), audit_context(actor=user_actor(people.gov)):
        accounts.role_revoke(role=MODEL_VALIDATOR, user=people.val, by=people.gov)
    approval = Approval.objects.get(approver=people.val)
    assert approval.lapsed_at is not None and "you do not hold the role" in approval.lapse_reason
    revoke = AuditEntry.objects.get(action="governance.role.revoke")
    lapse = AuditEntry.objects.get(action="governance.approval.lapse")
    assert abs(lapse.seq - revoke.seq) <= 3
    assert [m.to for m in mail.outbox] == [["val@example.com"]]
    assert list(selectors.awaiting(people.val2)) == [request]
    assert selectors.request_detail(request, people.val2)["you_may_act_as"] == ["validator"]
    # The same through the related manager, from a shell naming nobody.
    _approve(request, people.val2, "validator")
    with audit_context(actor=system_actor("a shell")):
        Group.objects.get(name="model validator").user_set.remove(people.val2)
    assert Approval.objects.get(approver=people.val2).lapsed_at is not None


def test_the_record_of_a_models_people_cannot_be_rewritten_to_clear_someone(people):
    # Was: from a shell, writer.delete(spell) (or its end backdated to before the version's registration, or its
    # start moved) erased that a developer had been on the model, who then approved its promotion as a validator.
    version = version_for(people)  # dev2 develops the model
    full_evidence(version)
    _give_validator_role(people.dev2)
    request = _request(people, version)
    spell = ModelPersonnel.objects.get(model=version.model, user=people.dev2)
    with pytest.raises(PermissionDenied) as refused, audit_context(actor=user_actor(people.gov)):
        writer.delete(spell)
    assert refused.value.rule == "personnel.immutable"
    for field, value in (("ended_at", version.created_at - dt.timedelta(seconds=1)),
                         ("started_at", timezone.now() + dt.timedelta(days=1)), ("user_id", people.dev.pk)):
        spell = ModelPersonnel.objects.get(pk=spell.pk)
        setattr(spell, field, value)
        with pytest.raises(PermissionDenied), audit_context(actor=user_actor(people.gov)):
            writer.save(spell)
    with pytest.raises(PermissionDenied) as refused:
        _approve(request, people.dev2, "validator")
    assert refused.value.rule == "sod.developer_cannot_decide"
    # The registry still closes a spell when someone leaves, and a closed spell stays as it was.
    _set_developers(people, version.model, [])
    spell = ModelPersonnel.objects.get(pk=spell.pk)
    assert spell.ended_at is not None
    spell.ended_at = timezone.now() + dt.timedelta(days=1)
    with pytest.raises(PermissionDenied), audit_context(actor=user_actor(people.gov)):
        writer.save(spell)
