"""Strict input (config.strict_input): unknown fields are refused by name, and an id that is not an integer is
refused, never rounded to another object's."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEntry
from tests.factories import make_model, make_version
from tests.governance.helpers import People


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


@pytest.mark.django_db
def test_a_refusal_of_many_unknown_fields_names_twenty(api: Any, people: People) -> None:
    make_model(people.dev, "pd")
    api.force_authenticate(people.dev)
    resp = api.patch("/api/v1/models/pd/", {f"junk{i:05d}": 1 for i in range(5000)}, format="json")
    assert resp.status_code == 400
    body = resp.json()
    assert len(body) == 21 and "and 4980 more fields" in body["non_field_errors"][0]


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
