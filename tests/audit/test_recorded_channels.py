"""Beyond the request: what else a decision reads, in every channel, held against an insider with a shell's writer or
SQL under an entry of their own making (none of these inserts a row or is the first to set a field set once: those
are the accepted limits of tests/audit/test_recorded.py).

Each test states the outcome issue 20 asks for (nothing promoted, the conflicted person refused). Rows a decision
finds by a column, or could not see gone (spells, reports, service accounts, roles), are held in place by the database
itself (GovernedModel.DATABASE_FIXED, DATABASE_KEPT): the SQL is refused, entry or no entry. A version's stage is set
only by a decision (DECIDED_FIELDS)."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import pytest
from django.db import DatabaseError, connection

from audit import writer
from audit.context import audit_context, system_actor, user_actor
from config.errors import DomainError, PermissionDenied
from governance import services
from governance.models import PromotionRequest
from registry.models import ModelPersonnel, ModelVersion
from registry.services.model import registered_model_set_developers
from reports.models import Report
from tests.governance.helpers import People, add_report, full_evidence, version_for

pytestmark = pytest.mark.django_db



@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


def _request(people: People, version: Any) -> PromotionRequest:
    return services.promotion_request_create(version=version, target_stage="production", justification="go",
                                             by=people.dev)


def _approve_all(people: People, request: PromotionRequest) -> None:
    for user, role in ((people.val, "validator"), (people.risk, "risk_officer"), (people.comp, "compliance_officer")):
        services.approval_record(request=PromotionRequest.objects.get(pk=request.pk), by=user, role=role,
                                 decision="approve")


def _former_developer(people: People) -> tuple[ModelVersion, PromotionRequest, ModelPersonnel]:
    """A version of a model the validator developed for a while after the version was registered (joined, left):
    separation of duties refuses them on its promotion for good. Evidence is computed after they left."""
    version = version_for(people)
    model = version.model
    with audit_context(actor=user_actor(people.dev)):
        registered_model_set_developers(model=model, developers=[people.dev2, people.val], by=people.dev)
        registered_model_set_developers(model=model, developers=[people.dev2], by=people.dev)
    spell = ModelPersonnel.objects.get(model=model, user=people.val)
    assert spell.ended_at is not None and spell.started_at > version.created_at
    full_evidence(version)
    request = _request(people, version)
    with pytest.raises(PermissionDenied) as refused:
        services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    assert refused.value.rule == "sod.developer_cannot_decide"
    return version, request, spell


def _sql_under_own_entry(obj: Any, sql: str, args: list[Any], changes: dict[str, Any], action: str) -> None:
    """SQL past the writer under an entry of the insider's own making, in one transaction (the row guards ask only
    that there be one)."""
    with audit_context(actor=system_actor("insider")), writer.atomic():
        writer.record(action=action, obj=obj, changes=changes)
        with connection.cursor() as cursor:
            cursor.execute(sql, args)


# 1. ModelVersion.created_at is not fixed. Separation of duties (rules.was_on_model) and staleness (gates.staleness)
#    read it; the writer lets a shell move it, and require_as_made does not judge it.

@pytest.mark.parametrize("channel", ["writer", "sql"])
def test_a_version_registered_later_does_not_clear_a_former_developer(people: People, channel: str) -> None:
    version, request, spell = _former_developer(people)
    assert spell.ended_at is not None
    later = spell.ended_at + dt.timedelta(microseconds=1)  # after they left, before any evidence finished
    if channel == "writer":
        moved = ModelVersion.objects.get(pk=version.pk)
        moved.created_at = later
        try:
            with audit_context(actor=user_actor(people.dev)):
                writer.save(moved)  # refused (record.fixed) once created_at is fixed; the decision is tried anyway
        except PermissionDenied:
            pass
    else:
        _sql_under_own_entry(version, "UPDATE registry_modelversion SET created_at = %s WHERE id = %s",
                             [later, version.pk], {"created_at": {"old": None, "new": later.isoformat()}},
                             "registry.modelversion.update")
    with pytest.raises(DomainError):
        services.approval_record(request=PromotionRequest.objects.get(pk=request.pk), by=people.val,
                                 role="validator", decision="approve")


# 2. A row taken away could not be judged (require_as_made reads the rows there are): the database refuses to take
#    a spell or a report away. Holds are checked against the log's "hold.open" entries.

def test_the_writer_does_not_take_away_a_spell_of_a_model_with_versions(people: People) -> None:
    _, _, spell = _former_developer(people)
    with pytest.raises(PermissionDenied), audit_context(actor=user_actor(people.dev)):
        writer.delete(spell)  # ModelPersonnel.delete refuses: held
    assert ModelPersonnel.objects.filter(pk=spell.pk).exists()


@pytest.mark.parametrize("how", ["deleted", "moved", "given"])
def test_a_spell_taken_away_past_the_writer_does_not_clear_a_former_developer(people: People, how: str) -> None:
    version, request, spell = _former_developer(people)
    with pytest.raises(DatabaseError, match="refused"):
        if how == "deleted":
            _sql_under_own_entry(spell, "DELETE FROM registry_modelpersonnel WHERE id = %s", [spell.pk],
                                 {"user": {"old": people.val.pk, "new": None}}, "registry.modelpersonnel.delete")
        elif how == "moved":  # to another model: lock_request judges only the spells that are this model's now
            other = version_for(people, name="other").model
            _sql_under_own_entry(spell, "UPDATE registry_modelpersonnel SET model_id = %s WHERE id = %s",
                                 [other.pk, spell.pk], {"model": {"old": version.model_id, "new": other.pk}},
                                 "registry.modelpersonnel.update")
        else:  # to someone else: the rule asks about the validator's spells
            _sql_under_own_entry(spell, "UPDATE registry_modelpersonnel SET user_id = %s WHERE id = %s",
                                 [people.aud.pk, spell.pk], {"user": {"old": people.val.pk, "new": people.aud.pk}},
                                 "registry.modelpersonnel.update")
    assert ModelPersonnel.objects.get(pk=spell.pk).model_id == version.model_id
    with pytest.raises(DomainError):
        services.approval_record(request=PromotionRequest.objects.get(pk=request.pk), by=people.val,
                                 role="validator", decision="approve")


@pytest.mark.parametrize("channel", ["writer", "sql", "moved"])
def test_a_failing_report_taken_away_does_not_let_the_older_pass_count(people: People, channel: str) -> None:
    version = version_for(people)
    full_evidence(version)  # bias passes
    failing = add_report(version, "bias", "fail", digest="b")  # then fails
    request = _request(people, version)
    with pytest.raises(DomainError):
        services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    if channel == "writer":
        with pytest.raises(PermissionDenied, match="kept for good"), audit_context(actor=system_actor("insider")):
            writer.delete(Report.objects.get(pk=failing.pk))
    elif channel == "sql":
        with pytest.raises(DatabaseError, match="refused"):
            _sql_under_own_entry(failing, "DELETE FROM reports_report WHERE id = %s", [failing.pk],
                                 {"kind": {"old": "bias", "new": None}}, "reports.report.delete")
    else:  # to another version: settle judges only the reports that are this version's now
        other = version_for(people, name="other")
        with pytest.raises(DatabaseError, match="refused"):
            _sql_under_own_entry(failing, "UPDATE reports_report SET version_id = %s WHERE id = %s",
                                 [other.pk, failing.pk], {"version": {"old": version.pk, "new": other.pk}},
                                 "reports.report.update")
    assert Report.objects.get(pk=failing.pk).version_id == version.pk
    with contextlib.suppress(DomainError):
        _approve_all(people, request)
    assert ModelVersion.objects.get(pk=version.pk).stage == "none"


# 3. The stage is what governance governs: the writer sets it only inside the decision that applies an approved
#    request (writer.deciding), not for a shell that asks, nor on a version made in production.

def test_the_writer_does_not_move_a_stage_without_an_approved_request(people: People) -> None:
    from registry.services.version import model_version_set_stage

    version = version_for(people)
    moved = ModelVersion.objects.get(pk=version.pk)
    moved.stage = "production"
    with pytest.raises(PermissionDenied) as refused, audit_context(actor=user_actor(people.dev)):
        writer.save(moved)
    assert refused.value.rule == "record.decided"
    with pytest.raises(PermissionDenied), audit_context(actor=user_actor(people.dev)), writer.atomic():
        model_version_set_stage(version=ModelVersion.objects.get(pk=version.pk), stage="production",
                                promotion_request_id=None)
    made = ModelVersion(model=version.model, version=99, stage="production", created_by=people.dev,
                        artifact_sha256=version.artifact_sha256)
    with pytest.raises(PermissionDenied, match="set only by a decision"), audit_context(actor=user_actor(people.dev)):
        writer.save(made)
    assert ModelVersion.objects.get(pk=version.pk).stage == "none"
    assert not ModelVersion.objects.filter(version=99).exists()


# 4. A service account's owner answers for what its pipeline did (rules.answers_for). ServiceAccount.save keeps the
#    owner against the writer, but a decision never judges the account as made: SQL under the insider's own entry
#    moves the pipeline to someone else, and its owner is no longer a developer of the model.

def test_a_pipeline_moved_to_another_owner_past_the_writer_does_not_clear_its_owner(people: People) -> None:
    from governance import accounts
    from governance.models import ServiceAccount

    version = version_for(people)
    with audit_context(actor=system_actor("setup")):
        account = accounts.service_account_create(by=None, owner=people.val, username="ci-pd", purpose="CI of pd")
    with audit_context(actor=user_actor(people.dev)):
        registered_model_set_developers(model=version.model, developers=[people.dev2, account.user], by=people.dev)
    full_evidence(version)
    request = _request(people, version)
    with pytest.raises(PermissionDenied) as refused:
        services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    assert refused.value.rule == "sod.developer_cannot_decide"
    with pytest.raises(DatabaseError, match="refused"):
        _sql_under_own_entry(account, "UPDATE governance_serviceaccount SET owner_id = %s WHERE id = %s",
                             [people.aud.pk, account.pk], {"owner": {"old": people.val.pk, "new": people.aud.pk}},
                             "governance.serviceaccount.update")
    with pytest.raises(DatabaseError, match="refused"):
        _sql_under_own_entry(account, "DELETE FROM governance_serviceaccount WHERE id = %s", [account.pk],
                             {"owner": {"old": people.val.pk, "new": None}}, "governance.serviceaccount.delete")
    assert ServiceAccount.objects.get(pk=account.pk).owner_id == people.val.pk
    with pytest.raises(DomainError):
        services.approval_record(request=PromotionRequest.objects.get(pk=request.pk), by=people.val,
                                 role="validator", decision="approve")


# 5. Roles are read by code through governance_role (rules._held). Role.save and Role.delete refuse every change,
#    but a decision never judges the role rows as made: SQL under the insider's own entries takes the auditor role
#    away and binds the validator's code to the auditors' group, and an auditor fills the validator slot.

@pytest.mark.parametrize("how", ["rebound", "deleted"])
def test_a_role_bound_to_another_group_past_the_writer_grants_nothing(people: People, how: str) -> None:
    from django.contrib.auth.models import Group

    from audit.writer import ObjectRef
    from governance.roles import AUDITOR, MODEL_VALIDATOR

    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    with pytest.raises(PermissionDenied):
        services.approval_record(request=request, by=people.aud, role="validator", decision="approve")
    auditors = Group.objects.get(role__code=AUDITOR)
    with pytest.raises(DatabaseError, match="refused"), audit_context(actor=system_actor("insider")), \
            writer.atomic():
        writer.record(action="governance.role.delete", obj=ObjectRef("governance.role", AUDITOR, AUDITOR),
                      changes={"group": {"old": auditors.pk, "new": None}})
        writer.record(action="governance.role.update", obj=ObjectRef("governance.role", MODEL_VALIDATOR,
                                                                     MODEL_VALIDATOR),
                      changes={"group": {"old": None, "new": auditors.pk}})
        with connection.cursor() as cursor:
            if how == "deleted":
                cursor.execute("DELETE FROM governance_role WHERE code = %s", [AUDITOR])
            else:  # the validator's code to a new group first, then the auditors' (one-to-one)
                cursor.execute("UPDATE governance_role SET group_id = %s WHERE code = %s",
                               [auditors.pk, MODEL_VALIDATOR])
    assert Group.objects.get(role__code=MODEL_VALIDATOR) != auditors
    with pytest.raises(DomainError):
        services.approval_record(request=PromotionRequest.objects.get(pk=request.pk), by=people.aud,
                                 role="validator", decision="approve")


# 6. Held: a request changed past the writer is refused as a 4xx or a clear message in every channel that decides,
#    never a 500 (API approve, reject, withdraw; the admin's review page and bulk approve; the CLI).

def test_a_request_changed_past_the_writer_is_refused_clearly_in_every_channel(people: People, api: Any,
                                                                              client: Any) -> None:
    from django.core.management import CommandError, call_command

    version = version_for(people)
    full_evidence(version)
    request = _request(people, version)
    _sql_under_own_entry(request, "UPDATE governance_promotionrequest SET justification = %s WHERE id = %s",
                         ["changed", request.pk], {"justification": {"old": None, "new": "changed"}},
                         "governance.promotionrequest.update")
    base = f"/api/v1/promotion-requests/{request.pk}"
    api.force_authenticate(people.val)
    assert api.post(f"{base}/approve/", {"role": "validator"}, format="json").status_code == 409
    assert api.post(f"{base}/reject/", {"role": "validator", "comment": "no"}, format="json").status_code == 409
    api.force_authenticate(people.dev)
    assert api.post(f"{base}/withdraw/", {}, format="json").status_code == 409
    for user in (people.val, people.gov):
        user.is_staff = True
        user.save()
    client.force_login(people.val)
    page = client.post(f"/admin/governance/promotionrequest/{request.pk}/review/",
                       {"role": "validator", "_approve": "Approve"}, follow=True)
    assert page.status_code == 200 and "changed outside the product" in page.content.decode()
    page = client.post("/admin/governance/promotionrequest/?queue=all",
                       {"action": "approve_selected", "_selected_action": [request.pk], "role": "validator"},
                       follow=True)
    assert page.status_code == 200 and "changed outside the product" in page.content.decode()
    with pytest.raises(CommandError, match=r"record\.not_as_made"):
        call_command("governance", "approve", str(request.pk), "--role", "validator", "--as", "val")
    assert PromotionRequest.objects.get(pk=request.pk).status == "pending"
    assert not request.approvals.exists()


# 7. Nit: two revocations of one token at once (two admins, the bulk action and the API). token_revoke reads the
#    token as the caller loaded it, unlocked: the second is refused by the writer's "record.fixed" (a 403 saying
#    revoked_at "cannot be changed") rather than the service's 409 "already revoked". Nothing is changed either way.

def test_a_token_revoked_twice_at_once_says_already_revoked(people: People) -> None:
    from config.errors import Conflict
    from governance import tokens
    from governance.models import ApiToken

    with audit_context(actor=user_actor(people.dev)):
        token, _ = tokens.token_create(user=people.dev, name="ci", by=people.dev)
        first, second = ApiToken.objects.get(pk=token.pk), ApiToken.objects.get(pk=token.pk)
        tokens.token_revoke(token=first, by=people.dev)
        with pytest.raises(Conflict):
            tokens.token_revoke(token=second, by=people.dev)
