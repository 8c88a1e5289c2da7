"""The state the log says, replayed and reconciled with the tables: `manage.py audit verify` names each difference."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.db import connection

from audit import db_guards
from audit.models import VerificationRun
from audit.reconcile import Divergence, reconcile, replay_log
from governance import services
from governance.models import Policy
from registry.models import ModelVersion, RegisteredModel
from registry.services.model import registered_model_set_developers, registered_model_update
from tests.factories import csv_bytes, make_dataset_version, make_version
from tests.governance.helpers import People, full_evidence, version_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def flow(make_user: Any) -> dict[str, Any]:
    """The demo's course in small: people in roles, a model with developers and datasets, two versions, the first
    refused and the second promoted through every approval, an edit, a policy change, a role taken away."""
    people = People(make_user)
    # Each version names its held-out data at registration, as the service records it.
    held_out = make_dataset_version(people.dev, name="held-out", content=csv_bytes(rows=33))
    v1 = version_for(people, tier="high", training_datasets=[make_dataset_version(people.dev)],
                     evaluation_datasets=[held_out])
    full_evidence(v1, verdict="fail")
    r1 = services.promotion_request_create(version=v1, target_stage="production", justification="try", by=people.dev)
    services.approval_record(request=r1, by=people.val, role="validator", decision="reject", comment="bias")
    v2 = make_version(v1.model, people.dev, metrics={"roc_auc": 0.9}, seed=1, evaluation_datasets=[held_out])
    full_evidence(v2)
    r2 = services.promotion_request_create(version=v2, target_stage="production", justification="ok", by=people.dev)
    services.approval_record(request=r2, by=people.val, role="validator", decision="approve", comment="ok")
    services.approval_record(request=r2, by=people.risk, role="risk_officer", decision="approve")
    services.approval_record(request=r2, by=people.comp, role="compliance_officer", decision="approve")
    model = RegisteredModel.objects.get(pk=v1.model_id)
    registered_model_update(model=model, by=people.dev, description="probability of default")
    registered_model_set_developers(model=RegisteredModel.objects.get(pk=model.pk),
                                    developers=[people.dev2, people.val2], by=people.dev)
    policy = Policy.objects.get(is_active=True)
    rules = policy.rules
    rules["production"]["high"]["approvals"] = {"validator": 2}
    services.policy_update(policy=policy, by=people.gov, rules_=rules)
    people.multi.groups.remove(Group.objects.get(name="risk officer"))
    return {"people": people, "v1": ModelVersion.objects.get(pk=v1.pk), "v2": ModelVersion.objects.get(pk=v2.pk)}


def _verify(*args: str) -> str:
    out = StringIO()
    call_command("audit", "verify", "--quiet", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _failing_verify(*args: str) -> tuple[str, str]:
    out = StringIO()
    with pytest.raises(CommandError) as err:
        call_command("audit", "verify", "--quiet", *args, stdout=out, stderr=StringIO())
    return out.getvalue(), str(err.value)


def _sql(sql: str, params: list[Any] | None = None) -> None:
    """As a database superuser could: past every guard the application's role meets."""
    with db_guards.suspended(connection), connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def test_the_flow_reconciles_clean(flow: dict[str, Any]) -> None:
    assert (flow["v1"].stage, flow["v2"].stage) == ("none", "production")
    assert list(reconcile()) == []
    out = _verify()
    assert "OK" in out and "the tables are what the log says" in out
    assert VerificationRun.objects.get().ok


def test_the_replay_says_what_the_tables_hold(flow: dict[str, Any]) -> None:
    state = replay_log()
    v1, v2 = flow["v1"], flow["v2"]
    assert state.objects["registry.modelversion"][str(v1.pk)]["stage"] == "none"
    assert state.objects["registry.modelversion"][str(v2.pk)]["stage"] == "production"
    people = flow["people"]
    developers = {m for o, m in state.live_links(_link(state, "registry.registeredmodel.developers"))
                  if o == str(v1.model_id)}
    assert developers == {str(people.dev2.pk), str(people.val2.pk)}
    groups = {m for o, m in state.live_links(_link(state, "auth.user.groups")) if o == str(people.multi.pk)}
    assert groups == {str(Group.objects.get(name="model validator").pk)}
    assert state.objects["auth.user"][str(people.dev.pk)]["password"] == "<redacted>"


def _link(state: Any, relation: str) -> Any:
    from audit.reconcile import schema

    return next(link for link, _ in schema().links.values() if link.relation == relation)


def test_a_stage_set_by_raw_sql_is_named_with_both_values(flow: dict[str, Any]) -> None:
    v1 = flow["v1"]
    _sql("UPDATE registry_modelversion SET stage = 'production' WHERE id = %s", [v1.pk])
    out, error = _failing_verify()
    assert f'object registry.modelversion#{v1.pk} field stage: log "none" table "production"' in out
    assert "1 difference(s)" in error
    run = VerificationRun.objects.get()
    assert not run.ok and run.rule == "state.divergence" and f"registry.modelversion#{v1.pk}" in run.message


def test_rows_inserted_and_deleted_by_raw_sql_are_named(flow: dict[str, Any]) -> None:
    people = flow["people"]
    _sql("INSERT INTO auth_user (username, password, is_superuser, first_name, last_name, email, is_staff, "
         "is_active, date_joined) VALUES ('mallory', '', %s, '', '', '', %s, %s, %s)",
         [True, True, True, "2026-01-01 00:00:00"])
    mallory = User.objects.get(username="mallory")
    _sql("DELETE FROM auth_user_groups WHERE user_id = %s", [people.val.pk])
    report = flow["v2"].reports.get(kind="lineage")
    _sql("DELETE FROM reports_report WHERE id = %s", [report.pk])
    divergences = {str(d) for d in reconcile()}
    validator = Group.objects.get(name="model validator").pk
    assert divergences == {
        f'object auth.user#{mallory.pk} field (object): log "absent" table "present"',
        f'object auth.user#{people.val.pk} field groups: log ["{validator}"] table []',
        f'object reports.report#{report.pk} field (object): log "present" table "absent"',
    }
    out, _ = _failing_verify()
    assert f"object auth.user#{mallory.pk} field (object)" in out


def test_a_link_row_inserted_by_raw_sql_is_named(flow: dict[str, Any]) -> None:
    people, model_id = flow["people"], flow["v1"].model_id
    _sql("INSERT INTO registry_registeredmodel_developers (registeredmodel_id, user_id) VALUES (%s, %s)",
         [model_id, people.aud.pk])
    assert [str(d) for d in reconcile()] == [
        f"object registry.registeredmodel#{model_id} field developers: log "
        + str(sorted([str(people.dev2.pk), str(people.val2.pk)])).replace("'", '"')
        + " table " + str(sorted([str(people.dev2.pk), str(people.val2.pk), str(people.aud.pk)])).replace("'", '"'),
    ]


def test_a_secret_is_compared_by_its_digest(flow: dict[str, Any]) -> None:
    """A secret is compared by the digest its entries record beside "<redacted>" (audit.chain.digest_key), and named
    by digests alone; a secret last changed by an entry without one (written before the digests were) compares only
    as set or not."""
    from audit import chain

    people = flow["people"]
    _sql("UPDATE auth_user SET password = 'pbkdf2_sha256$other' WHERE id = %s", [people.dev.pk])
    held = chain.secret_digest("pbkdf2_sha256$other", "password")
    [found] = [str(d) for d in reconcile()]
    assert found.startswith(f'object auth.user#{people.dev.pk} field password: log "<redacted> sha256 ')
    assert found.endswith(f'table "<redacted> sha256 {held}"') and "pbkdf2_sha256$other" not in found
    _sql("UPDATE auth_user SET password = '' WHERE id = %s", [people.dev.pk])
    assert [str(d) for d in reconcile()] != []
    # As the log before the digests: the last entry for the password holds "<redacted>" and no digest beside it.
    state = replay_log()
    state.objects["auth.user"][str(people.dev.pk)].pop("password.sha256")
    _sql("UPDATE auth_user SET password = 'pbkdf2_sha256$other' WHERE id = %s", [people.dev.pk])
    assert list(reconcile(state)) == []  # set before and after: that log cannot say to what
    _sql("UPDATE auth_user SET password = '' WHERE id = %s", [people.dev.pk])
    assert [str(d) for d in reconcile(state)] == [f'object auth.user#{people.dev.pk} field password: log "<redacted>" '
                                                 'table ""']


def test_output_is_bounded(flow: dict[str, Any]) -> None:
    _sql("UPDATE registry_modelversion SET description = 'x'")
    out, error = _failing_verify("--show", "1")
    assert out.count("object registry.modelversion#") == 1 and "... and 1 more" in out
    assert "2 difference(s)" in error


def test_no_state_skips_the_reconciliation(flow: dict[str, Any]) -> None:
    _sql("UPDATE registry_modelversion SET stage = 'production' WHERE id = %s", [flow["v1"].pk])
    out = _verify("--no-state")
    assert "OK" in out and "object " not in out and "the tables are what the log says" not in out
    assert VerificationRun.objects.get().ok


def test_divergence_shape() -> None:
    assert str(Divergence("registry.modelversion", "7", "stage", "none", "production")) == (
        'object registry.modelversion#7 field stage: log "none" table "production"')


def test_a_policy_created_in_force_is_logged_created_then_activated(make_user: Any) -> None:
    """Entries buffered before a nested writer.atomic are appended before its own: the log gave a policy's
    activation before its creation, and its replay a policy out of force while the table had it in force."""
    from audit.models import AuditEntry

    gov = make_user("gov", "governance admin")
    policy = services.policy_create(by=gov, name="strict", activate=True)
    actions = [e.action for e in AuditEntry.objects.filter(object_type="governance.policy", object_id=str(policy.pk))
               .order_by("seq")]
    assert actions == ["governance.policy.create", "governance.policy.activate"]
    assert list(reconcile()) == []


def test_the_stored_fold_parses_only_what_it_needs_and_says_the_same(flow: dict[str, Any]) -> None:
    from audit.models import AuditEntry
    from audit.reconcile import schema
    from audit.replay import fold, fold_stored, iter_stored

    plan = schema()
    whole = fold((bytes(raw) for raw in AuditEntry.objects.order_by("seq").values_list("canonical", flat=True)), plan)
    quick = fold_stored(iter_stored(), plan)
    # An entry whose members are not in the canonical order is parsed whole, to the same effect.
    body = {"object": {"id": str(flow["v1"].pk), "repr": "x", "type": "registry.modelversion"},
            "action": "registry.modelversion.update", "changes": {"description": {"old": "", "new": "moved"}},
            "context": {}, "actor": {}}
    reordered = [("registry.modelversion", json.dumps(body))]
    fold_stored(reordered, plan, quick)
    fold([json.loads(reordered[0][1])], plan, whole)
    assert (quick.objects, quick.links, quick.created, quick.deleted) == (
        whole.objects, whole.links, whole.created, whole.deleted)
    assert quick.objects["registry.modelversion"][str(flow["v1"].pk)]["description"] == "moved"


@pytest.mark.django_db(transaction=True)
def test_verify_reads_the_log_and_the_tables_in_one_snapshot(make_user: Any) -> None:
    """Outside a transaction (as from a shell) the check runs in its own: on PostgreSQL read only, REPEATABLE READ."""
    from tests.factories import make_model

    make_model(make_user("dev", "model developer"), "m1")
    assert not connection.in_atomic_block
    out = _verify()
    assert "the tables are what the log says" in out
    assert VerificationRun.objects.get().ok


def test_a_digest_is_the_same_for_a_number_read_back_as_the_database_writes_it() -> None:
    """PostgreSQL's jsonb stores numbers as numeric and writes 1e16 back as 10000000000000000, which Python reads
    as an int beyond 2**53 that the RFC 8785 reference refuses: metrics read back must keep the digest they were
    made with, as RFC 8785 reads such a number (the double it denotes)."""
    from audit.format.jcs import digest_of

    assert digest_of({"v": 10**16}) == digest_of({"v": 1e16}) != ""
    assert digest_of({"v": [-int(1.5e300)]}) == digest_of({"v": [-1.5e300]}) != ""
    assert digest_of({"v": 10**400}) == digest_of({"v": float("nan")}) == ""


def test_a_report_with_a_large_number_reconciles_after_its_round_trip_through_the_database(
        make_user: Any) -> None:
    from reports.selectors import latest_evidence
    from tests.governance.helpers import add_report

    version = version_for(People(make_user))
    add_report(version, "performance", "info", measured={"roc_auc": 0.8, "n": 1.5e17})
    assert latest_evidence(version.pk)["performance"].metrics_intact()
    assert [d for d in reconcile() if d.field == "metrics"] == []
