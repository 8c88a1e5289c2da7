"""Adversarial review of issue 20's two guarantees (commit 01448c0): rows a decision finds by a column are held in
place by the database (DATABASE_FIXED / DATABASE_KEPT), and a version's stage moves only inside the decision that
applies an approved request (DECIDED_FIELDS).

Each test states the outcome the guarantee promises; each failed at 01448c0 (a break). Insider = a shell with the
writer, or SQL as the application's user under entries of their own making in the same transaction (the row guards
ask only that there be one). None inserts a brand-new row with a forged creation entry (the accepted limit).

Mended: F1 (a version's model is fixed in the database), F2 (every governed row's key is), F3 (SQLite's recursive
triggers: REPLACE deletes with the DELETE triggers), F6 (the writer never INSERTs under an "update"). Open, marked
xfail(strict): F4 and F5, a stage set under a forged decision entry, or from Python holding the decision's permit."""
from __future__ import annotations

import contextlib
from typing import Any

import pytest
from django.db import DatabaseError, connection

from audit import writer
from audit.context import audit_context, system_actor, user_actor
from audit.writer import ObjectRef
from config.errors import DomainError, PermissionDenied
from governance import services
from governance.models import PromotionRequest
from registry.models import ModelPersonnel, ModelVersion
from registry.services.model import registered_model_set_developers
from reports.models import Report
from tests.factories import make_model
from tests.governance.helpers import People, add_report, full_evidence, version_for

pytestmark = pytest.mark.django_db

OPEN = "open gap: "


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


def _request(people: People, version: Any, stage: str = "production") -> PromotionRequest:
    return services.promotion_request_create(version=version, target_stage=stage, justification="go", by=people.dev)


def _approve(people: People, request: PromotionRequest, roles: Any) -> None:
    for user, role in roles:
        services.approval_record(request=PromotionRequest.objects.get(pk=request.pk), by=user, role=role,
                                 decision="approve")


def _former_developer(people: People) -> tuple[ModelVersion, PromotionRequest, ModelPersonnel]:
    """As tests/audit/test_recorded_channels.py: the validator developed the model after the version was registered;
    separation of duties refuses them for good."""
    version = version_for(people)
    with audit_context(actor=user_actor(people.dev)):
        registered_model_set_developers(model=version.model, developers=[people.dev2, people.val], by=people.dev)
        registered_model_set_developers(model=version.model, developers=[people.dev2], by=people.dev)
    spell = ModelPersonnel.objects.get(model=version.model, user=people.val)
    full_evidence(version)
    request = _request(people, version)
    with pytest.raises(PermissionDenied):
        services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    return version, request, spell


# F1. DATABASE_KEPT "model.versions" is judged row by row, at the moment of the DELETE: move the model's versions to
#     another model (ModelVersion.model_id is fixed only in Python / by require_as_made, not by the database), delete
#     the spell (no versions point at the model now), move the versions back. The version ends as made, the spell is
#     gone, and lock_request judges only the spells there are: the former developer is cleared.

def test_a_spell_is_not_deleted_by_moving_the_models_versions_away_for_a_moment(people: People) -> None:
    version, request, spell = _former_developer(people)
    parking = make_model(people.dev, "parking")
    moved = list(ModelVersion.objects.filter(model_id=version.model_id))
    with contextlib.suppress(DatabaseError), audit_context(actor=system_actor("insider")), writer.atomic():
        for v in moved:
            writer.record(action="registry.modelversion.update", obj=v,
                          changes={"model": {"old": version.model_id, "new": parking.pk}})
        writer.record(action="registry.modelpersonnel.delete", obj=spell,
                      changes={"user": {"old": people.val.pk, "new": None}})
        for v in moved:
            writer.record(action="registry.modelversion.update", obj=v,
                          changes={"model": {"old": parking.pk, "new": version.model_id}})
        with connection.cursor() as cursor:
            cursor.execute("UPDATE registry_modelversion SET model_id = %s WHERE model_id = %s",
                           [parking.pk, version.model_id])
            cursor.execute("DELETE FROM registry_modelpersonnel WHERE id = %s", [spell.pk])
            cursor.execute("UPDATE registry_modelversion SET model_id = %s WHERE model_id = %s",
                           [version.model_id, parking.pk])
    with pytest.raises(DomainError):  # fails: DID NOT RAISE, the former developer's approval counts
        services.approval_record(request=PromotionRequest.objects.get(pk=request.pk), by=people.val,
                                 role="validator", decision="approve")
    assert ModelPersonnel.objects.filter(pk=spell.pk).exists(), "the spell was deleted while the model has versions"


# F2. The primary key is the column the log finds a row by, and it is in no DATABASE_FIXED: renaming a row's id leaves
#     its history behind (require_as_made looks entries up by the new id, and judges it against the insider's own
#     entry, which names nothing). A failing report renamed and blanked is "taken away": the older pass counts again.

def test_a_failing_report_is_not_taken_away_by_renaming_its_id(people: People) -> None:
    version = version_for(people)
    full_evidence(version)
    failing = add_report(version, "bias", "fail", digest="b")
    request = _request(people, version)
    new_id = failing.pk + 100_000
    with contextlib.suppress(DatabaseError), audit_context(actor=system_actor("insider")), writer.atomic():
        writer.record(action="reports.report.update", obj=ObjectRef("reports.report", str(new_id), "bias"),
                      changes={"status": {"old": "queued", "new": "failed"}})
        with connection.cursor() as cursor:
            cursor.execute("UPDATE reports_report SET id = %s, status = 'failed', verdict = '', json_sha256 = '', "
                           "pdf_sha256 = '' WHERE id = %s", [new_id, failing.pk])
    with contextlib.suppress(DomainError):
        _approve(people, request, ((people.val, "validator"), (people.risk, "risk_officer"),
                                   (people.comp, "compliance_officer")))
    assert ModelVersion.objects.get(pk=version.pk).stage == "none"  # fails: promoted on the older pass
    assert Report.objects.filter(pk=failing.pk, verdict="fail").exists(), "the failing report was taken away"


# F3 (SQLite). REPLACE deletes the conflicting row without firing DELETE triggers (recursive_triggers is off) and is
#     an INSERT, not an UPDATE OF version_id: the failing report is moved to another version past both kept triggers.

def test_a_failing_report_is_not_moved_by_insert_or_replace_on_sqlite(people: People) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's INSERT OR REPLACE (PostgreSQL has none)")
    version = version_for(people)
    full_evidence(version)
    failing = add_report(version, "bias", "fail", digest="b")
    other = version_for(people, name="other")
    request = _request(people, version)
    with contextlib.suppress(DatabaseError), audit_context(actor=system_actor("insider")), writer.atomic():
        writer.record(action="reports.report.update", obj=failing,
                      changes={"version": {"old": version.pk, "new": other.pk}})
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM reports_report WHERE id = %s", [failing.pk])
            columns = [c[0] for c in cursor.description]
            row = dict(zip(columns, cursor.fetchone(), strict=True))
            row["version_id"] = other.pk
            cursor.execute(f"INSERT OR REPLACE INTO reports_report ({', '.join(columns)}) "
                           f"VALUES ({', '.join(['%s'] * len(columns))})", [row[c] for c in columns])
    with contextlib.suppress(DomainError):
        _approve(people, request, ((people.val, "validator"), (people.risk, "risk_officer"),
                                   (people.comp, "compliance_officer")))
    assert ModelVersion.objects.get(pk=version.pk).stage == "none"  # fails: promoted on the older pass
    assert Report.objects.get(pk=failing.pk).version_id == version.pk, "the failing report was moved"


# F4. DECIDED_FIELDS is enforced only by the writer (Python): SQL under the insider's own entry sets a version's stage
#     to production with no request at all; the database has no guard on the stage, and nothing judges it after.

@pytest.mark.django_db(transaction=True)  # PostgreSQL's guard is checked at COMMIT (governance.stage_guard)
@pytest.mark.xfail(connection.vendor == "sqlite", strict=True,
                   reason=OPEN + "on SQLite (no deferred triggers) an entry of the decision's verb, forged, passes")
def test_sql_under_an_own_entry_does_not_put_a_version_in_production(people: People) -> None:
    version = version_for(people)
    with contextlib.suppress(DatabaseError), audit_context(actor=system_actor("insider")), writer.atomic():
        writer.record(action="registry.modelversion.stage_change", obj=version,
                      changes={"stage": {"old": "none", "new": "production"},
                               "promotion_request": {"old": None, "new": None}})
        with connection.cursor() as cursor:
            cursor.execute("UPDATE registry_modelversion SET stage = 'production' WHERE id = %s", [version.pk])
    assert ModelVersion.objects.get(pk=version.pk).stage == "none"


# F5. The shell: `writer.deciding` is exported by the writer, the "door" the shell is given; wrapping the service in
#     it is all it takes (no private permit, no SQL).

@pytest.mark.django_db(transaction=True)
@pytest.mark.xfail(connection.vendor == "sqlite", strict=True,
                   reason=OPEN + "on SQLite Python in the process can hold any permit the decision holds")
def test_a_shell_cannot_open_the_decision_permit_itself(people: People) -> None:
    from registry.services.version import model_version_set_stage

    version = version_for(people)
    with contextlib.suppress(DatabaseError), audit_context(actor=user_actor(people.dev)), writer.atomic(), \
            writer.deciding():
        model_version_set_stage(version=ModelVersion.objects.get(pk=version.pk), stage="production",
                                promotion_request_id=None)
    assert ModelVersion.objects.get(pk=version.pk).stage == "none"


# F6. The writer's own check on creation is skipped by `_state.adding = False`: _refuse_held_changes
#     found no stored row and returned; the "already exists" check runs only when adding; Django's
#     save() with adding False and no pk INSERTs. A version is made in production, under an "update" entry.

def test_the_writer_does_not_make_a_version_in_production_when_told_it_is_not_adding(people: People) -> None:
    version = version_for(people)
    made = ModelVersion(model=version.model, version=99, stage="production", created_by=people.dev,
                        artifact=version.artifact.name, artifact_sha256=version.artifact_sha256,
                        artifact_size=version.artifact_size, artifact_format=version.artifact_format)
    made._state.adding = False
    with pytest.raises(DomainError, match="no row to update"), audit_context(actor=user_actor(people.dev)), \
            writer.atomic():
        writer.save(made)
    made.pk = version.pk + 1000  # a row that is not there, named
    with pytest.raises(DomainError, match="no row to update"), audit_context(actor=user_actor(people.dev)), \
            writer.atomic():
        writer.save(made)
    assert not ModelVersion.objects.filter(model=version.model, stage="production").exists()
