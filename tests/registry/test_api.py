"""Registry API: uploads, validation errors as 400s, permissions, lineage, request ids."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from audit.models import AuditEntry
from registry.models import Dataset, ModelVersion, RegisteredModel
from tests.factories import csv_bytes, make_dataset_version, make_model, make_version, skops_bytes
from tests.governance.helpers import People

pytestmark = pytest.mark.django_db


@pytest.fixture
def dev(make_user):
    return make_user("dev", "model developer")


@pytest.fixture
def client(api, dev):
    api.force_authenticate(dev)
    return api


def test_create_model_and_list(client):
    resp = client.post("/api/v1/models/", {"name": "pd", "title": "PD model", "risk_tier": "high",
                                           "tags": ["retail"]}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["owner"] == "dev"
    listing = client.get("/api/v1/models/?risk_tier=high").json()
    assert [m["name"] for m in listing["results"]] == ["pd"]
    assert [m["name"] for m in client.get("/api/v1/models/?tag=retail").json()["results"]] == ["pd"]
    assert client.get("/api/v1/models/?tag=other").json()["results"] == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": "no name"}, "name"),
        ({"name": "bad name!", "title": "x"}, "name"),
        ({"name": "ok", "title": "x", "risk_tier": "extreme"}, "risk_tier"),
        ({"name": "ok", "title": "x", "tags": "notalist"}, "tags"),
        ({"name": "ok", "title": "x", "owner": "nobody"}, "owner"),
    ],
)
def test_bad_model_input_is_400_naming_the_field(client, body, field):
    resp = client.post("/api/v1/models/", body, format="json")
    assert resp.status_code == 400
    assert field in resp.json()


def test_duplicate_name_is_409(client, dev):
    make_model(dev, "pd")
    resp = client.post("/api/v1/models/", {"name": "pd", "title": "again"}, format="json")
    assert resp.status_code == 409
    assert "already exists" in resp.json()["detail"]


def test_upload_version_multipart_with_digest_and_lineage(client, dev):
    model = make_model(dev, "pd")
    train = make_dataset_version(dev, "train")
    content = skops_bytes(1)
    resp = client.post(
        "/api/v1/models/pd/versions/",
        {
            "artifact": SimpleUploadedFile("m.skops", content),
            "artifact_format": "skops",
            "expected_sha256": hashlib.sha256(content).hexdigest(),
            "hyperparameters": '{"C": 1.0}',
            "metrics": '{"roc_auc": 0.8}',
            "training_datasets": [train.pk],
            "code_repository": "https://git.example/credit",
            "code_commit": "abc123",
        },
        format="multipart",
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["version"] == 1
    assert body["artifact_sha256"] == hashlib.sha256(content).hexdigest()
    assert body["hyperparameters"] == {"C": 1.0}
    assert body["training_datasets"][0]["dataset"] == "train"
    assert resp["X-Request-ID"]
    entry = AuditEntry.objects.get(object_type="registry.modelversion", object_id=str(body["id"]))
    ctx = entry.as_json()["context"]
    assert ctx["channel"] == "api"
    assert ctx["request_id"] == resp["X-Request-ID"]
    assert "ip" in ctx
    lineage = client.get(f"/api/v1/dataset-versions/{train.pk}/lineage/").json()
    assert [v["version"] for v in lineage["trained_versions"]] == [1]
    assert model.pk


def test_upload_with_wrong_digest_is_400_and_stores_nothing(client, dev):
    make_model(dev, "pd")
    resp = client.post(
        "/api/v1/models/pd/versions/",
        {"artifact": SimpleUploadedFile("m.skops", skops_bytes()), "artifact_format": "skops",
         "expected_sha256": "a" * 64},
        format="multipart",
    )
    assert resp.status_code == 400
    assert "mismatch" in resp.json()["detail"]
    assert ModelVersion.objects.count() == 0


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"artifact_format": "skops", "metrics": "{not json"}, "metrics"),
        ({"artifact_format": "tensorflow"}, "artifact_format"),
        ({"artifact_format": "pickle"}, "pickle"),
        ({"artifact_format": "skops", "training_datasets": [999]}, "training_datasets"),
    ],
)
def test_bad_version_input_is_400(client, dev, fields, message):
    make_model(dev, "pd")
    content = b"\x80\x04K\x01." if fields.get("artifact_format") == "pickle" else skops_bytes()
    resp = client.post("/api/v1/models/pd/versions/", {"artifact": SimpleUploadedFile("m", content), **fields},
                       format="multipart")
    assert resp.status_code == 400, resp.content
    assert message in resp.content.decode()


def test_missing_artifact_is_400(client, dev):
    make_model(dev, "pd")
    resp = client.post("/api/v1/models/pd/versions/", {"artifact_format": "skops"}, format="multipart")
    assert resp.status_code == 400
    assert "artifact" in resp.json()


def test_other_developer_cannot_register_version_403(api, make_user, dev):
    make_model(dev, "pd")
    other = make_user("other", "model developer")
    api.force_authenticate(other)
    resp = api.post("/api/v1/models/pd/versions/",
                    {"artifact": SimpleUploadedFile("m", skops_bytes()), "artifact_format": "skops"},
                    format="multipart")
    assert resp.status_code == 403
    assert resp.json()["rule"] == "registry.model_developer"


def test_anonymous_is_refused(api):
    assert api.get("/api/v1/models/").status_code in (401, 403)


def test_validator_cannot_create_model(api, make_user):
    api.force_authenticate(make_user("val", "model validator"))
    resp = api.post("/api/v1/models/", {"name": "x", "title": "x"}, format="json")
    assert resp.status_code == 403


def test_dataset_upload_and_bad_csv(client):
    assert client.post("/api/v1/datasets/", {"name": "credit"}, format="json").status_code == 201
    ok = client.post("/api/v1/datasets/credit/versions/",
                     {"file": SimpleUploadedFile("d.csv", csv_bytes()), "target_column": "risk",
                      "sensitive_columns": ["sex"]}, format="multipart")
    assert ok.status_code == 201, ok.content
    assert ok.json()["row_count"] == 40
    bad = client.post("/api/v1/datasets/credit/versions/",
                      {"file": SimpleUploadedFile("d.csv", b"a,b\n1,2\n"), "target_column": "risk"},
                      format="multipart")
    assert bad.status_code == 400
    assert "no column" in bad.json()["detail"]


def test_version_lineage_endpoint_and_immutable_patch(client, dev):
    model = make_model(dev, "pd")
    v1 = make_version(model, dev)
    v2 = make_version(model, dev, parent=v1)
    lineage = client.get(f"/api/v1/versions/{v2.pk}/lineage/").json()
    assert lineage["parents"][0]["version"] == 1
    resp = client.patch(f"/api/v1/versions/{v1.pk}/", {"description": "calibrated"}, format="json")
    assert resp.status_code == 200
    assert resp.json()["description"] == "calibrated"


def test_artifact_download_carries_digest(client, dev):
    version = make_version(make_model(dev, "pd"), dev)
    resp = client.get(f"/api/v1/versions/{version.pk}/artifact/")
    assert resp.status_code == 200
    assert resp["X-Artifact-SHA256"] == version.artifact_sha256
    assert hashlib.sha256(b"".join(resp.streaming_content)).hexdigest() == version.artifact_sha256


def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/models/" in schema.content
    assert client.get("/api/docs/").status_code == 200


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


@pytest.mark.django_db
def test_an_owner_hands_a_model_on_and_sets_its_developers_in_one_edit(api: Any, people: People) -> None:
    # Checked in turn, the second step saw the new owner and refused it after the first had committed.
    model = make_model(people.dev, "pd")
    api.force_authenticate(people.dev)  # the owner, without registry.change_registeredmodel
    resp = api.patch("/api/v1/models/pd/", {"owner": "dev2", "developers": ["dev"]}, format="json")
    assert resp.status_code == 200, resp.content
    model.refresh_from_db()
    assert model.owner_id == people.dev2.pk
    assert list(model.developers.values_list("username", flat=True)) == ["dev"]
    # Now no longer the owner: refused as a whole, nothing written.
    before = AuditEntry.objects.count()
    resp = api.patch("/api/v1/models/pd/", {"title": "mine again", "developers": []}, format="json")
    assert resp.status_code == 403
    model.refresh_from_db()
    assert model.title != "mine again" and model.developers.count() == 1
    assert AuditEntry.objects.count() == before


@pytest.mark.postgres  # the test database on SQLite is in memory, where threads lock whole tables
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/api/v1/models/", "/api/v1/datasets/"])
def test_the_same_name_created_at_once_is_one_201_and_conflicts(make_user: Any, url: str) -> None:
    root = make_user("root", superuser=True)
    clients = 6
    barrier, codes, bodies = threading.Barrier(clients), [], []

    def create() -> None:
        client = APIClient()
        client.force_authenticate(root)
        barrier.wait()
        try:
            resp = client.post(url, {"name": "same", "title": "T"}, format="json")
            codes.append(resp.status_code)
            bodies.append(resp.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201] + [409] * (clients - 1), (codes, bodies)
    assert all(b.get("code") == "conflict" for b in bodies if "id" not in b and "name" not in b)
    made = RegisteredModel if "models" in url else Dataset
    assert made.objects.filter(name="same").count() == 1
    assert AuditEntry.objects.filter(object_type=f"registry.{made._meta.model_name}",
                                     action__endswith=".create").count() == 1


@pytest.mark.django_db
def test_an_artifact_missing_from_storage_is_a_404_naming_its_digest(api: Any, people: People) -> None:
    version = make_version(make_model(people.dev, "pd"), people.dev)
    os.remove(version.artifact.path)
    api.force_authenticate(people.dev)
    resp = api.get(f"/api/v1/versions/{version.pk}/artifact/")
    assert resp.status_code == 404 and version.artifact_sha256 in resp.json()["detail"]
