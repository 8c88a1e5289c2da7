"""Append-only at every layer: the ORM, the admin and API, and database triggers against raw SQL."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit import merkle, writer
from audit.models import AppendOnlyError, AuditEntry, ChainHead, MerkleNode
from tests.factories import make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged(make_user):
    dev = make_user("dev", "model developer")
    make_model(dev, "pd")
    # Enough entries for a stored Merkle node (the smaller subtrees are not stored).
    while AuditEntry.objects.count() < 2**merkle.STORED_LEVEL:
        writer.record(action="tests.guard.fill", obj=writer.ObjectRef(type="tests.fill", id="1", repr="fill"))
    return AuditEntry.objects.order_by("seq").first()


def test_orm_refuses_to_change_or_delete_entries(logged):
    logged.action = "x.y.z"
    with pytest.raises(AppendOnlyError):
        logged.save()
    with pytest.raises(AppendOnlyError):
        logged.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(seq=logged.seq).update(action="x.y.z")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry(seq=10_000, ts=logged.ts, canonical=b"{}", prev="0" * 64, hash="f" * 64).save()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditentry SET action = 'tampered' WHERE seq = 1",
        "DELETE FROM audit_auditentry WHERE seq = 1",
        "UPDATE audit_merklenode SET hash = hash",
        "DELETE FROM audit_merklenode",
        "UPDATE audit_chainhead SET seq = 0",
        "DELETE FROM audit_chainhead",
    ],
)
def test_triggers_refuse_raw_sql(logged, sql):
    with pytest.raises(DatabaseError, match=r"append-only|only moves forward"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEntry.objects.get(seq=1).action == logged.action
    assert ChainHead.objects.get().seq == AuditEntry.objects.count()
    assert MerkleNode.objects.exists()


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["audit_auditentry", "audit_merklenode", "audit_checkpoint", "audit_chainhead"])
def test_postgres_refuses_truncate(logged, table):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AuditEntry.objects.count() > 0


def test_admin_is_read_only(client, make_user, logged):
    make_user("root", superuser=True)
    client.login(username="root", password="pw-root")
    assert client.get("/admin/audit/auditentry/").status_code == 200
    page = client.get(f"/admin/audit/auditentry/{logged.seq}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.post(f"/admin/audit/auditentry/{logged.seq}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/audit/auditentry/add/").status_code == 403
    assert AuditEntry.objects.filter(seq=logged.seq).exists()


def test_api_is_read_only(api, make_user, logged):
    api.force_authenticate(make_user("aud", "auditor"))
    assert api.get("/api/v1/audit/entries/").status_code == 200
    assert api.get(f"/api/v1/audit/entries/{logged.seq}/").json()["hash"] == logged.hash
    assert api.delete(f"/api/v1/audit/entries/{logged.seq}/").status_code == 405
    assert api.patch(f"/api/v1/audit/entries/{logged.seq}/", {"action": "x"}, format="json").status_code == 405
    assert api.post("/api/v1/audit/entries/", {}, format="json").status_code == 405
