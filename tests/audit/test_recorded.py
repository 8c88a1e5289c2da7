"""A record fixed when it was made stays as made (audit.recorded, the writer's refusal): a request's frozen rule, what
an approval was given on, the version a request would promote.

The writer refuses to change a fixed field whatever channel asks (a shell's services here; the API and admin have no
path that tries). An insider with a shell and the database can still change the row past the writer, under an entry
of their own making in the same transaction (which satisfies the row guards): then every decision on the request is
refused, naming what changed, until the row is restored; the scheduled tidy-up and the changes that settle requests
pass it by; and `audit verify` names the field, the replay keeping what the creation recorded."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from audit import reconcile, writer
from audit.context import audit_context, system_actor, user_actor
from audit.models import AuditEntry
from audit.recorded import NotAsRecorded
from config.errors import Conflict, PermissionDenied
from governance import services
from governance.models import Approval, PromotionRequest
from registry.models import ModelVersion
from tests.governance.helpers import People, add_report, full_evidence, version_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


@pytest.fixture
def half(people: People) -> PromotionRequest:
    """A production request with its validator's and risk officer's approvals: the compliance officer's completes it."""
    version = version_for(people)
    full_evidence(version)
    request = services.promotion_request_create(version=version, target_stage="production", justification="go",
                                                by=people.dev)
    for user, role in ((people.val, "validator"), (people.risk, "risk_officer")):
        services.approval_record(request=request, by=user, role=role, decision="approve")
    return PromotionRequest.objects.get(pk=request.pk)


def _past_the_writer(obj: Any, column: str, value: Any) -> None:
    """As an insider with a shell and the database: an entry of their own making, then SQL, in one transaction. The
    entry says what they changed; the row guards ask only that there be one."""
    jsonb = isinstance(value, dict | list)
    cast = "::jsonb" if jsonb and connection.vendor == "postgresql" else ""
    meta = obj._meta
    with audit_context(actor=system_actor("insider")), writer.atomic():
        writer.record(action=f"{meta.app_label}.{meta.model_name}.update", obj=obj,
                      changes={column: {"old": None, "new": value}})
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {meta.db_table} SET {column} = %s{cast} WHERE id = %s",
                           [json.dumps(value) if jsonb else value, obj.pk])


def _complete(request: PromotionRequest, people: People) -> PromotionRequest:
    return services.approval_record(request=request, by=people.comp, role="compliance_officer", decision="approve")


FIXED_REQUEST = [("policy_rule", {"approvals": {}}), ("policy_sha256", "0" * 64), ("target_stage", "staging"),
                 ("expires_at", "later"), ("requested_by_id", "val"), ("created_at", "later"), ("version_id", "other")]


@pytest.mark.parametrize(("field", "value"), FIXED_REQUEST)
def test_the_writer_refuses_to_change_what_a_request_was_made_with(people: People, half: PromotionRequest,
                                                                   field: str, value: Any) -> None:
    # Was: from a shell, `request.policy_rule = {...}; writer.save(request)` recorded the change and the next
    # decision judged the request by the rule the shell wrote.
    value = {"later": timezone.now() + dt.timedelta(days=400), "val": people.val.pk,
             "other": version_for(people, name="other").pk}.get(value, value) if isinstance(value, str) else value
    entries = AuditEntry.objects.count()
    for forged_snapshot in (False, True):
        changed = PromotionRequest.objects.get(pk=half.pk)
        setattr(changed, field, value)
        if forged_snapshot:  # the caller's own idea of the row before: the writer reads the row itself
            changed._audit_snapshot = changed.audit_values()
        with pytest.raises(PermissionDenied) as refused, audit_context(actor=user_actor(people.gov)):
            writer.save(changed)
        assert refused.value.rule == "record.fixed"
        assert field.removesuffix("_id") in refused.value.message
    assert AuditEntry.objects.count() == entries
    assert PromotionRequest.objects.get(pk=half.pk).audit_values() == half.audit_values()


def test_the_writer_refuses_to_change_an_approval_and_lets_it_lapse_once(people: People,
                                                                         half: PromotionRequest) -> None:
    approval = Approval.objects.get(request=half, approver=people.val)
    for field, value in (("valid_until", timezone.now() + dt.timedelta(days=400)), ("role", "compliance_officer"),
                         ("decision", "reject"), ("evidence_digests", {}), ("artifact_sha256", "0" * 64)):
        changed = Approval.objects.get(pk=approval.pk)
        setattr(changed, field, value)
        with pytest.raises(PermissionDenied) as refused, audit_context(actor=user_actor(people.gov)):
            writer.save(changed)
        assert refused.value.rule == "record.fixed"
    lapsed = Approval.objects.get(pk=approval.pk)
    lapsed.lapsed_at, lapsed.lapse_reason = timezone.now(), "test"
    with audit_context(actor=user_actor(people.gov)):
        writer.save(lapsed)  # set once: allowed
    lapsed.lapsed_at = None
    with pytest.raises(PermissionDenied), audit_context(actor=user_actor(people.gov)):
        writer.save(lapsed)  # and never unset


def test_a_rule_lowered_past_the_writer_decides_nothing_in_any_channel(people: People, half: PromotionRequest,
                                                                      api: Any) -> None:
    _past_the_writer(half, "policy_rule", {**half.policy_rule, "approvals": {"validator": 1}})
    entries = AuditEntry.objects.count()
    with pytest.raises(Conflict) as refused:
        _complete(half, people)
    assert refused.value.rule == "record.not_as_made" and "policy_rule" in refused.value.message
    api.force_authenticate(people.comp)
    resp = api.post(f"/api/v1/promotion-requests/{half.pk}/approve/", {"role": "compliance_officer"}, format="json")
    assert resp.status_code == 409 and resp.json()["rule"] == "record.not_as_made", resp.content
    api.force_authenticate(people.dev)
    resp = api.post(f"/api/v1/promotion-requests/{half.pk}/withdraw/", {}, format="json")
    assert resp.status_code == 409, resp.content
    assert AuditEntry.objects.count() == entries
    assert PromotionRequest.objects.get(pk=half.pk).status == "pending"
    assert ModelVersion.objects.get(pk=half.version_id).stage == "none"
    divergences = {(d.object_type, d.field) for d in reconcile.reconcile()}
    assert ("governance.promotionrequest", "policy_rule") in divergences


def test_a_rule_raised_to_nothing_from_a_report_arrival_is_passed_by(people: People, half: PromotionRequest) -> None:
    # The rule asks for nothing more; a report's arrival settles the version's requests: this one is passed by (and
    # the report stored), not completed on the changed rule.
    _past_the_writer(half, "policy_rule", {**half.policy_rule, "approvals": {}})
    add_report(half.version, "performance", "info")
    assert PromotionRequest.objects.get(pk=half.pk).status == "pending"
    assert ModelVersion.objects.get(pk=half.version_id).stage == "none"


def test_an_approval_pushed_past_its_validity_does_not_count(people: People, half: PromotionRequest,
                                                             clock: Any) -> None:
    approval = Approval.objects.get(request=half, approver=people.val)
    _past_the_writer(approval, "valid_until", timezone.now() + dt.timedelta(days=400))
    clock.advance(hours=24 * 7, seconds=1)  # every approval's validity ran out; the changed one claims a year more
    with pytest.raises(Conflict) as refused:
        _complete(half, people)
    assert refused.value.rule == "record.not_as_made" and "valid_until" in refused.value.message
    assert PromotionRequest.objects.get(pk=half.pk).status == "pending"
    assert services.promotion_requests_expire() == 0  # the tidy-up passes it by, without failing


def test_a_version_whose_creator_is_changed_past_the_writer_decides_nothing(people: People,
                                                                           half: PromotionRequest) -> None:
    # The version's creator may never decide its promotion: moving the version to someone else's name would clear them.
    _past_the_writer(half.version, "created_by_id", people.dev2.pk)
    with pytest.raises(NotAsRecorded) as refused:
        _complete(half, people)
    assert "created_by" in refused.value.message


def test_a_restored_row_is_decided_again(people: People, half: PromotionRequest) -> None:
    rule = half.policy_rule
    _past_the_writer(half, "policy_rule", {**rule, "approvals": {}})
    with pytest.raises(NotAsRecorded):
        _complete(half, people)
    _past_the_writer(half, "policy_rule", rule)
    assert _complete(half, people).status == "approved"
