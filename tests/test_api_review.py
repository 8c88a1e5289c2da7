"""Inputs an adversarial review of the API found answered with a 500, a partial write or an HTML page: each is
now a JSON 4xx with a message, and loses or half-writes nothing."""

from __future__ import annotations

import base64
import glob
import os
import tempfile
import threading
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from audit.models import AuditEntry
from registry.models import Dataset, RegisteredModel
from registry.services import model as model_services
from tests.factories import make_model, make_version
from tests.governance.helpers import People


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


def _cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/audit/entries/", "/api/v1/audit/checkpoints/",
                                 "/api/v1/audit/entries/history/registry.registeredmodel/1/"])
@pytest.mark.parametrize("position", ["abc", "1.5", "", "-1", "\u0661", str(2**63)])
def test_a_forged_cursor_position_is_an_invalid_cursor(api: Any, people: People, url: str, position: str) -> None:
    api.force_authenticate(people.aud)
    resp = api.get(url, {"cursor": _cursor(f"p={position}")})
    assert resp.status_code == 404 and resp.json()["detail"] == "Invalid cursor"
    # A cursor the API made itself still pages.
    make_model(people.dev, "m1")
    make_model(people.dev, "m2")
    first = api.get("/api/v1/audit/entries/", {"page_size": 1}).json()
    assert api.get(first["next"]).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "\u0661", "1.0", str(2**63)])
def test_export_bounds_are_ascii_digits(api: Any, people: People, value: str) -> None:
    api.force_authenticate(people.aud)
    for name in ("from", "to"):
        resp = api.get("/api/v1/audit/export/", {name: value})
        assert resp.status_code == 400 and resp.json()["detail"] == f"{name} must be a positive integer"


@pytest.mark.django_db
def test_a_refused_export_leaves_no_temporary_files(
    api: Any, people: People, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A temporary directory of its own: other processes' exports in the shared /tmp must not count.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    api.force_authenticate(people.aud)
    pattern = os.path.join(tempfile.gettempdir(), "modelgov-export-*")
    assert tempfile.gettempdir() == str(tmp_path)
    resp = api.get("/api/v1/audit/export/", {"from": 99999})
    assert resp.status_code == 400
    assert glob.glob(pattern) == []


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


@pytest.mark.django_db
def test_an_edit_failing_half_way_leaves_the_developers_as_they_were(
        api: Any, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model(people.dev, "pd")
    before = AuditEntry.objects.count()

    def fail(**kwargs: Any) -> None:
        raise RuntimeError("the field edit fails after the developers were set")

    monkeypatch.setattr(model_services, "registered_model_update", fail)
    with pytest.raises(RuntimeError):
        model_services.registered_model_edit(model=model, by=people.dev, developers=[people.dev2], title="T")
    assert model.developers.count() == 0
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
def test_a_column_name_with_a_nul_is_refused_by_name_on_every_database(api: Any, people: People) -> None:
    api.force_authenticate(people.root)
    assert api.post("/api/v1/datasets/", {"name": "ds"}, format="json").status_code == 201
    before = AuditEntry.objects.count()
    resp = api.post("/api/v1/datasets/ds/versions/",
                    {"file": SimpleUploadedFile("d.csv", b"risk,s\x00ex\n1,m\n")}, format="multipart")
    assert resp.status_code == 400 and "NUL" in resp.json()["detail"], resp.content
    assert AuditEntry.objects.count() == before


@pytest.mark.django_db
def test_an_artifact_missing_from_storage_is_a_404_naming_its_digest(api: Any, people: People) -> None:
    version = make_version(make_model(people.dev, "pd"), people.dev)
    os.remove(version.artifact.path)
    api.force_authenticate(people.dev)
    resp = api.get(f"/api/v1/versions/{version.pk}/artifact/")
    assert resp.status_code == 404 and version.artifact_sha256 in resp.json()["detail"]


@pytest.mark.django_db
def test_a_body_too_large_or_with_too_many_fields_is_a_json_400(api: Any, people: People) -> None:
    api.force_authenticate(people.root)
    big = api.post("/api/v1/models/", '{"name":"x","title":"t","description":"' + "a" * 11_000_000 + '"}',
                   content_type="application/json")
    assert big.status_code == 400 and big["Content-Type"].startswith("application/json")
    assert "larger than the" in big.json()["detail"]
    many = api.post("/api/v1/models/", "&".join(f"f{i}=1" for i in range(1100)),
                    content_type="application/x-www-form-urlencoded")
    assert many.status_code == 400 and "fields allowed" in many.json()["detail"]
    assert not RegisteredModel.objects.filter(name="x").exists()


@pytest.mark.django_db
def test_a_refusal_of_many_unknown_fields_names_twenty(api: Any, people: People) -> None:
    make_model(people.dev, "pd")
    api.force_authenticate(people.dev)
    resp = api.patch("/api/v1/models/pd/", {f"junk{i:05d}": 1 for i in range(5000)}, format="json")
    assert resp.status_code == 400
    body = resp.json()
    assert len(body) == 21 and "and 4980 more fields" in body["non_field_errors"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("url,name", [("/api/v1/audit/entries/", "since"), ("/api/v1/audit/entries/", "until"),
                                      ("/api/v1/versions/", "created_after")])
def test_a_time_whose_utc_instant_falls_outside_the_years_1_to_9999_is_named(
        api: Any, people: People, url: str, name: str) -> None:
    api.force_authenticate(people.root)
    for value in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"):
        resp = api.get(url, {name: value})
        assert resp.status_code == 400, resp.content
        assert "within the years 1 to 9999" in str(resp.json()), resp.json()
    assert api.get(url, {name: "0001-01-01T00:00:00-01:00"}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", ["half", "float", "true", "text half", "padded", "arabic", "list", "null"])
def test_an_id_that_is_not_an_integer_is_refused_not_rounded(api: Any, people: People, spelling: str) -> None:
    from reports.models import Report

    version = make_version(make_model(people.dev, "pd"), people.dev)
    pk = version.pk  # each spelling would name this version if read loosely (1.5 was read as 1)
    given = {"half": pk + 0.5, "float": float(pk), "true": True if pk == 1 else pk + 0.5, "text half": f"{pk}.5",
             "padded": f" {pk}", "arabic": str(pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
             "list": [pk], "null": None}[spelling]
    api.force_authenticate(people.dev)
    before = AuditEntry.objects.count()
    resp = api.post("/api/v1/reports/", {"version": given, "kind": "lineage"}, format="json")
    assert resp.status_code == 400 and "version" in resp.json(), resp.content
    assert not Report.objects.exists() and AuditEntry.objects.count() == before
    resp = api.post("/api/v1/models/pd/versions/", {"artifact": SimpleUploadedFile("m.skops", b"x"),
                                                    "parent": "1.5"}, format="multipart")
    assert resp.status_code == 400 and "parent" in resp.json(), resp.content


@pytest.mark.django_db
def test_the_api_docs_page_answers_other_methods_with_405(client: Any) -> None:
    assert client.get("/api/docs/").status_code == 200
    for method in ("options", "post", "delete"):
        assert getattr(client, method)("/api/docs/", HTTP_ACCEPT="text/html").status_code == 405, method
