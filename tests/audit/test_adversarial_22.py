"""Adversarial review of issue 22: ways around the database's refusal of unrecorded writes and around the state
spans that the inventory reads. Each test is a way an insider tried; it passes when the way is shut."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit import reconcile
from governance import gates
from registry.models import ModelVersion
from tests.governance.helpers import People, version_for

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = "unrecorded write refused"


@pytest.fixture
def small(make_user: Any) -> SimpleNamespace:
    people = People(make_user)
    version = version_for(people)
    role = Group.objects.get(name="model developer")
    admin_role = Group.objects.get(name="governance admin")
    link = people.dev.groups.through.objects.get(user_id=people.dev.pk, group_id=role.pk)
    return SimpleNamespace(version=version.pk, dev=people.dev.pk, role=role.pk, admin_role=admin_role.pk,
                           link=link.pk)


def _execute(sql: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# A no-op UPDATE is let through unchecked (it changes nothing), but it writes a new row version whose xmin is the
# current transaction; the update guard then skipped any later UPDATE of that row in the transaction as "written
# by this transaction, so already checked" — which it was not.
NOOP_THEN_CHANGE = [
    ("registry_modelversion", "UPDATE registry_modelversion SET stage = stage WHERE id = {version}",
     "UPDATE registry_modelversion SET stage = 'production' WHERE id = {version}"),
    ("auth_user_groups", "UPDATE auth_user_groups SET group_id = group_id WHERE id = {link}",
     "UPDATE auth_user_groups SET group_id = {admin_role} WHERE id = {link}"),
    ("auth_user", "UPDATE auth_user SET is_superuser = is_superuser WHERE id = {dev}",
     "UPDATE auth_user SET is_superuser = TRUE WHERE id = {dev}"),
]


@pytest.mark.postgres
@pytest.mark.parametrize(("table", "noop", "change"), NOOP_THEN_CHANGE, ids=[t for t, _, _ in NOOP_THEN_CHANGE])
def test_a_noop_update_does_not_open_the_row_to_an_unchecked_one(small: SimpleNamespace, table: str, noop: str,
                                                                  change: str) -> None:
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        _execute(noop.format(**vars(small)))
        _execute(change.format(**vars(small)))
    assert ModelVersion.objects.get(pk=small.version).stage == "none"
    assert list(reconcile.reconcile()) == []


def _verify_fails() -> str:
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("audit", "verify", "--quiet", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_reports_measured_metrics_rewritten_under_an_unrelated_entry_are_named(make_user: Any) -> None:
    from django.db import models

    from audit import writer
    from audit.context import audit_context, system_actor
    from reports.models import Report
    from tests.governance.helpers import add_report

    people = People(make_user)
    version = version_for(people)
    report = add_report(version, "performance", "info", measured={"roc_auc": 0.55})
    call_command("audit", "verify", "--quiet", stdout=StringIO(), stderr=StringIO())
    forged = dict(report.metrics, metrics={"roc_auc": {"value": 0.99, "ci": [None, None]}})
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="reports.report.touch", obj=report, changes={})
        models.QuerySet(Report).filter(pk=report.pk).update(metrics=forged)
    assert Report.objects.get(pk=report.pk).metrics["metrics"]["roc_auc"]["value"] == 0.99  # the guard let it by
    # The entries bind the metrics through json_sha256 (Report.AUDIT_DIGESTED): verify names the report and field...
    out = _verify_fails()
    assert f"reports.report#{report.pk} field metrics" in out, out
    # ...and no gate reads the forged number: the measurement counts as not measured, with the reason.
    found = gates.measured(version, dt.timedelta(days=365))
    assert found.report_id is None and "changed behind the log's back" in found.why_none


def test_a_tokens_key_hash_swapped_under_an_unrelated_entry_is_named(make_user: Any) -> None:
    from django.db import models

    from audit import writer
    from audit.context import audit_context, system_actor
    from governance.models import ApiToken
    from governance.tokens import token_create

    gov = make_user("gov", "governance admin", is_staff=True)
    token, _ = token_create(user=gov, name="laptop", by=gov)
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="governance.apitoken.touch", obj=token, changes={})
        models.QuerySet(ApiToken).filter(pk=token.pk).update(key_hash="0" * 64)
    assert ApiToken.objects.get(pk=token.pk).key_hash == "0" * 64  # the guard let it by
    out = _verify_fails()
    # Named by the digests alone: neither the key hash the log recorded nor the one swapped in is shown.
    assert f"object governance.apitoken#{token.pk} field key_hash: log \"<redacted> sha256 " in out, out
    assert token.key_hash not in out and "0" * 64 not in out


def test_a_password_swapped_under_an_unrelated_entry_is_named(make_user: Any) -> None:
    """The same for a person's password: an insider who sets the hash of a password they know, under an entry for the
    user in the same transaction, is named by `audit verify`, which sees the digest of the hash change."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import models

    from audit import chain, writer
    from audit.context import audit_context, system_actor
    from audit.models import AuditEntry

    gov = make_user("gov", "governance admin", is_staff=True)
    user_model = get_user_model()
    saved = user_model.objects.get(pk=gov.pk).password
    # What the log keeps of the password: "<redacted>", and the digest of its hash beside it, never the hash.
    latest = (AuditEntry.objects.filter(object_type="auth.user", object_id=str(gov.pk))
              .order_by("-seq").values_list("canonical", flat=True))
    recorded = [e for e in latest if b"password.sha256" in bytes(e)]
    assert recorded and all(saved.encode() not in bytes(e) for e in latest)
    assert str(chain.secret_digest(saved, "password")).encode() in bytes(recorded[0])
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="auth.user.touch", obj=gov, changes={})
        models.QuerySet(user_model).filter(pk=gov.pk).update(password=make_password("known to the insider"))
    out = _verify_fails()
    assert f"object auth.user#{gov.pk} field password: log \"<redacted> sha256 " in out, out


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite's guard")
def test_sqlite_what_was_noted_does_not_outlive_its_transaction(small: SimpleNamespace) -> None:
    from audit import writer
    from audit.context import audit_context, system_actor

    block = transaction.atomic()
    with audit_context(actor=system_actor("tests"), channel="system"), block, writer.atomic():
        writer.record(action="registry.modelversion.update", changes={},
                      obj=writer.ObjectRef(type="registry.modelversion", id=str(small.version), repr="v1"))
    with pytest.raises(DatabaseError, match=REFUSED), block:
        _execute("UPDATE registry_modelversion SET stage = 'production' WHERE id = %s", [small.version])


def _stray_entry(seq: int, object_type: str, object_id: str, action: str = "registry.modelversion.stage_change",
                 ts: str = "2020-01-01 00:00:00+00:00") -> None:
    """A row put into audit_auditentry by hand past the chain's head: the append-only triggers refuse UPDATE,
    DELETE and TRUNCATE, not INSERT; `audit verify` reads the entries up to the head only."""
    _execute("INSERT INTO audit_auditentry (seq, ts, actor_kind, actor_id, actor_name, action, object_type, object_id, "
             "object_repr, channel, request_id, canonical, prev, hash) VALUES (%s, %s, 'user', '1', 'dev', %s, %s, %s, "
             "'x', 'api', '', %s, %s, %s)", [seq, ts, action, object_type, object_id, b"{}", "0" * 64, "f" * 64])


@pytest.mark.postgres
def test_a_row_put_past_the_chains_head_does_not_cover_a_write(small: SimpleNamespace) -> None:
    """The guard took the newest row for the object, wherever its seq: a row inserted by hand at seq 10^12 (its xact
    is this transaction's by default) let an UPDATE through with nothing appended to the chain — and, being the
    newest for ever, would refuse every later recorded write of that object."""
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        _stray_entry(10**12, "registry.modelversion", str(small.version))
        _execute("UPDATE registry_modelversion SET stage = 'production' WHERE id = %s", [small.version])
    assert ModelVersion.objects.get(pk=small.version).stage == "none"


def test_a_row_put_past_the_chains_head_is_not_the_inventorys_instant(small: SimpleNamespace) -> None:
    """The inventory's instant was the last row at or before T, head or not: a row put by hand past the head with a
    past ts became the `head` the inventory (and its PDF) showed as of T, with a hash that is in no chain, while
    `audit verify` (which reads up to the head) passed."""
    from governance import inventory

    _stray_entry(10**12, "registry.modelversion", str(small.version))
    import datetime as dt

    at = inventory.instant(dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    assert at is None or at.seq != 10**12
    doc = inventory.inventory(as_of=dt.datetime.now(dt.UTC))
    assert doc["head"]["seq"] != 10**12 and doc["head"]["hash"] != "f" * 64


def test_metrics_rewritten_with_their_digest_under_an_unrelated_entry_are_named(make_user: Any) -> None:
    """The insider changes the metrics and json_sha256 together, so the two agree: json_sha256 is in the entries,
    so audit verify names it, and the gate, which reads the digest the log recorded, does not read the forged number."""
    from django.db import models

    from audit import writer
    from audit.context import audit_context, system_actor
    from audit.format.jcs import digest_of
    from reports.models import Report
    from tests.governance.helpers import add_report

    version = version_for(People(make_user))
    report = add_report(version, "performance", "info", measured={"roc_auc": 0.55})
    forged = dict(report.metrics, metrics={"roc_auc": {"value": 0.99, "ci": [None, None]}})
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="reports.report.touch", obj=report, changes={})
        models.QuerySet(Report).filter(pk=report.pk).update(metrics=forged, json_sha256=digest_of(forged))
    out = _verify_fails()
    assert f"reports.report#{report.pk} field json_sha256" in out, out
    found = gates.measured(version, dt.timedelta(days=365))
    assert found.report_id is None and "changed behind the log's back" in found.why_none
