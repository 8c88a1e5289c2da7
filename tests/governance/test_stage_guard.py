"""PostgreSQL's stage guard (governance.stage_guard), with real COMMITs: the legitimate flows pass it (staging, then
production over the API with the previous version archived, expiry, re-validation), and what the sixth review tried
is refused: when the stage changed moved under a forged entry or from a shell holding the decision's permit (F1, F1b),
an archived version promoted again under an old approval replayed (F2), and the ways SQL has to write a row (ON
CONFLICT, MERGE, writable CTEs, views, COPY, a row deleted and made again)."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.utils import timezone

from audit import reconcile, writer
from audit.context import audit_context, system_actor, user_actor
from governance import services
from governance.models import PromotionRequest
from registry.models import ModelVersion
from tests.factories import make_version
from tests.governance.helpers import People, full_evidence, version_for

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(connection.vendor != "postgresql", reason="the stage guard is PostgreSQL's")]

ALL = (("val", "validator"), ("risk", "risk_officer"), ("comp", "compliance_officer"))


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


def _sql(sql: str, params: Any = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _promote(people: People, version: ModelVersion, stage: str = "production") -> PromotionRequest:
    request = services.promotion_request_create(version=version, target_stage=stage, justification="go",
                                                by=people.dev)
    roles = ALL if stage == "production" else ALL[:2]
    for who, role in roles:
        request = services.approval_record(request=PromotionRequest.objects.get(pk=request.pk),
                                           by=getattr(people, who), role=role, decision="approve")
    assert request.status == "approved"
    return request


def _verify_names_something() -> bool:
    return bool(list(reconcile.reconcile()))


def _stage(pk: int) -> str:
    return ModelVersion.objects.get(pk=pk).stage


def _production_pair(people: People) -> tuple[ModelVersion, ModelVersion, PromotionRequest]:
    """v1 promoted to production (request r1, approved), then v2 promoted over it: v1 archived."""
    v1 = version_for(people)
    full_evidence(v1)
    r1 = _promote(people, v1)
    v2 = make_version(v1.model, people.dev, metrics={"roc_auc": 0.9})
    full_evidence(v2)
    _promote(people, v2)
    assert (_stage(v1.pk), _stage(v2.pk)) == ("archived", "production")
    return v1, v2, r1


# ------------------------------------------------------------------------------------------------ legit flows
def test_legit_staging_then_production_then_archive_over_the_api_and_verify(api: Any, people: People) -> None:
    v1 = version_for(people)
    full_evidence(v1)
    for stage in ("staging", "production"):
        api.force_authenticate(people.dev)
        rid = api.post("/api/v1/promotion-requests/", {"version": v1.pk, "target_stage": stage,
                                                       "justification": "ok"}, format="json").json()["id"]
        for who, role in (ALL if stage == "production" else ALL[:2]):
            api.force_authenticate(getattr(people, who))
            resp = api.post(f"/api/v1/promotion-requests/{rid}/approve/", {"role": role}, format="json")
            assert resp.status_code == 200, resp.content
        assert _stage(v1.pk) == stage
    v2 = make_version(v1.model, people.dev, metrics={"roc_auc": 0.9})
    full_evidence(v2)
    _promote(people, v2, "staging")
    _promote(people, v2, "production")
    assert (_stage(v1.pk), _stage(v2.pk)) == ("archived", "production")
    call_command("audit", "verify", "--quiet")
    assert not _verify_names_something()


def test_legit_expiry_job(people: People) -> None:
    v1 = version_for(people)
    full_evidence(v1)
    request = services.promotion_request_create(version=v1, target_stage="production", justification="go",
                                                by=people.dev)
    assert services.promotion_requests_expire(now=timezone.now() + dt.timedelta(days=400)) == 1
    assert PromotionRequest.objects.get(pk=request.pk).status == "expired"
    assert not _verify_names_something()


# ------------------------------------------------------------------------------------------------ findings
def test_F1_stage_changed_at_is_not_moved_by_sql_under_a_forged_stage_change(people: People) -> None:
    """stage_changed_at is a DECIDED_FIELD (revalidation_open_due counts from it), but the guard fires only on stage."""
    v1 = version_for(people)
    full_evidence(v1)
    _promote(people, v1)
    v1.refresh_from_db()
    later = timezone.now() + dt.timedelta(days=3650)
    with contextlib.suppress(DatabaseError), audit_context(actor=system_actor("insider")), writer.atomic():
        writer.record(action="registry.modelversion.stage_change", obj=v1,
                      changes={"stage_changed_at": {"old": v1.stage_changed_at.isoformat().replace("+00:00", "Z"),
                                                    "new": later.isoformat().replace("+00:00", "Z")},
                               "promotion_request": {"old": None, "new": None}})
        _sql("UPDATE registry_modelversion SET stage_changed_at = %s WHERE id = %s", [later, v1.pk])
    moved = ModelVersion.objects.get(pk=v1.pk).stage_changed_at == later
    # Periodic re-validation is now deferred ten years.
    due = services.revalidation_open_due(now=timezone.now() + dt.timedelta(days=400))
    assert not moved or _verify_names_something(), f"moved silently; revalidation opened: {due}"


def test_F1b_shell_with_the_decision_permit_moves_stage_changed_at(people: People) -> None:
    v1 = version_for(people)
    full_evidence(v1)
    _promote(people, v1)
    later = timezone.now() + dt.timedelta(days=3650)
    with contextlib.suppress(DatabaseError), audit_context(actor=user_actor(people.dev)), writer.atomic(), \
            writer.deciding():
        v = ModelVersion.objects.get(pk=v1.pk)
        v.stage_changed_at = later
        writer.save(v, action="registry.modelversion.stage_change")
    moved = ModelVersion.objects.get(pk=v1.pk).stage_changed_at == later
    assert not moved or _verify_names_something()


def test_F2_archived_version_is_not_re_promoted_under_a_replayed_old_approval(people: People) -> None:
    """No new request, no request row written: an approve entry for r1 (approved long ago, v1 -> production)."""
    v1, v2, r1 = _production_pair(people)
    with contextlib.suppress(DatabaseError), audit_context(actor=system_actor("insider")), writer.atomic():
        writer.record(action="governance.promotionrequest.approve", obj=r1, changes={})
        for v, old, new in ((v2, "production", "archived"), (v1, "archived", "production")):
            writer.record(action="registry.modelversion.stage_change", obj=v,
                          changes={"stage": {"old": old, "new": new},
                                   "promotion_request": {"old": None, "new": r1.pk}})
        # v2 archived under the archive branch? (r1 is for v1, same model, target production = v2's old stage)
        _sql("UPDATE registry_modelversion SET stage = 'archived' WHERE id = %s", [v2.pk])
        _sql("UPDATE registry_modelversion SET stage = 'production' WHERE id = %s", [v1.pk])
    re_promoted = _stage(v1.pk) == "production"
    assert not re_promoted or _verify_names_something(), (_stage(v1.pk), _stage(v2.pk))


def test_legit_revalidation_moves_stage_changed_at(people: People) -> None:
    v1 = version_for(people)
    full_evidence(v1)
    _promote(people, v1)
    before = ModelVersion.objects.get(pk=v1.pk).stage_changed_at
    (request,) = services.revalidation_open_due(now=timezone.now() + dt.timedelta(days=400))
    for who, role in ALL:
        request = services.approval_record(request=PromotionRequest.objects.get(pk=request.pk),
                                           by=getattr(people, who), role=role, decision="approve")
    assert request.status == "approved"
    after = ModelVersion.objects.get(pk=v1.pk).stage_changed_at
    assert before is not None and after is not None and after > before


# ------------------------------------------------------------------------------------------------ held (pass)

ATTACKS = {
    "on_conflict": "INSERT INTO registry_modelversion SELECT * FROM registry_modelversion WHERE id = {id} "
                   "ON CONFLICT (id) DO UPDATE SET stage = 'production'",
    "merge": "MERGE INTO registry_modelversion t USING (SELECT {id} AS id) s ON t.id = s.id "
             "WHEN MATCHED THEN UPDATE SET stage = 'production'",
    "cte": "WITH x AS (UPDATE registry_modelversion SET stage = 'production' WHERE id = {id} RETURNING 1) "
           "SELECT count(*) FROM x",
    "temp_view": "CREATE TEMP VIEW vv AS SELECT * FROM registry_modelversion; "
                 "UPDATE vv SET stage = 'production' WHERE id = {id}",
    "row_set": "UPDATE registry_modelversion SET (stage, stage_changed_at) = (SELECT 'production', now()) "
               "WHERE id = {id}",
    "delete_reinsert": "CREATE TEMP TABLE k AS SELECT * FROM registry_modelversion WHERE id = {id}; "
                       "DELETE FROM registry_modelversion WHERE id = {id}; UPDATE k SET stage = 'production'; "
                       "INSERT INTO registry_modelversion SELECT * FROM k",
    "ordering": "UPDATE registry_modelversion SET stage = 'production' WHERE id = {id}; "
                "UPDATE registry_modelversion SET stage = 'none' WHERE id = {id}; "
                "UPDATE registry_modelversion SET stage = 'production' WHERE id = {id}",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_held(people: People, name: str) -> None:
    v = version_for(people)
    with contextlib.suppress(DatabaseError), audit_context(actor=system_actor("insider")), writer.atomic():
        writer.record(action="registry.modelversion.stage_change", obj=v,
                      changes={"stage": {"old": "none", "new": "production"},
                               "promotion_request": {"old": None, "new": None}})
        if name == "delete_reinsert":
            writer.record(action="registry.modelversion.delete", obj=v, changes={})
        _sql(ATTACKS[name].format(id=v.pk))
    assert _stage(v.pk) == "none"


def test_held_copy(people: People) -> None:
    v = version_for(people)
    other = make_version(v.model, people.dev)
    with contextlib.suppress(DatabaseError, psycopg.Error), audit_context(actor=system_actor("insider")), \
            writer.atomic():
        writer.record(action="registry.modelversion.delete", obj=other, changes={})
        with connection.cursor() as c:
            c.execute("CREATE TEMP TABLE k AS SELECT * FROM registry_modelversion WHERE id = %s", [other.pk])
            c.execute("DELETE FROM registry_modelversion WHERE id = %s", [other.pk])
            c.execute("UPDATE k SET stage = 'production'")
            c.execute("SELECT * FROM k")
            row = c.fetchone()
            with c.cursor.copy("COPY registry_modelversion FROM STDIN") as cp:
                cp.write_row(row)
    assert ModelVersion.objects.get(pk=other.pk).stage == "none"


def test_held_piggyback_other_model_and_other_stage(people: People) -> None:
    """A legit approval (v2 -> production) in the transaction; the insider also moves v3 of the same model from
    staging, and a version of another model from production, to archived."""
    from governance import services
    from governance.models import PromotionRequest

    v1 = version_for(people)
    full_evidence(v1)
    _promote(people, v1)
    other = version_for(people, name="other")
    full_evidence(other)
    _promote(people, other)
    v3 = make_version(v1.model, people.dev)
    full_evidence(v3)
    _promote(people, v3, "staging")
    v2 = make_version(v1.model, people.dev, metrics={"roc_auc": 0.9})
    full_evidence(v2)
    request = services.promotion_request_create(version=v2, target_stage="production", justification="go",
                                                by=people.dev)
    for who, role in (("val", "validator"), ("risk", "risk_officer")):
        services.approval_record(request=PromotionRequest.objects.get(pk=request.pk), by=getattr(people, who),
                                 role=role, decision="approve")
    for victim in (v3, other):
        with contextlib.suppress(DatabaseError), audit_context(actor=system_actor("insider")), writer.atomic():
            services.approval_record(request=PromotionRequest.objects.get(pk=request.pk), by=people.comp,
                                     role="compliance_officer", decision="approve")
            writer.record(action="registry.modelversion.stage_change", obj=victim,
                          changes={"stage": {"old": victim.stage, "new": "archived"},
                                   "promotion_request": {"old": None, "new": request.pk}})
            _sql("UPDATE registry_modelversion SET stage = 'archived' WHERE id = %s", [victim.pk])
        assert _stage(victim.pk) == ("staging" if victim is v3 else "production")
    # the second try (other) ran after the first's rollback: the request is pending again each time
