"""Hostile inputs: a pickle that would run code, archive bombs, huge JSON, markup in names — refused or escaped."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import ModelVersion
from tests.factories import make_model, skops_bytes

pytestmark = pytest.mark.django_db


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def dev(make_user: Any) -> Any:
    return make_user("dev", "model developer")


@pytest.mark.parametrize("fmt", ["pickle", "joblib"])
def test_crafted_pickle_is_refused_and_never_runs(api: Any, dev: Any, tmp_path: Path, fmt: str) -> None:
    marker = tmp_path / "pwned"
    make_model(dev, "pd")
    api.force_authenticate(dev)
    payload = pickle.dumps(_Exploit(str(marker)))
    resp = api.post("/api/v1/models/pd/versions/", {"artifact": SimpleUploadedFile("m.pkl", payload),
                                                    "artifact_format": fmt}, format="multipart")
    assert resp.status_code == 400
    assert "runs code" in resp.json()["detail"]
    assert not marker.exists()
    assert ModelVersion.objects.count() == 0


def test_skops_archive_bomb_is_refused(api: Any, dev: Any, settings: Any) -> None:
    settings.REGISTRY_MAX_ARTIFACT_BYTES = 2 * 1024 * 1024
    make_model(dev, "pd")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("schema.json", "{}")
        zf.writestr("blob.bin", b"\0" * (64 * 1024 * 1024))  # 64 MiB of zeros in a few KiB
    api.force_authenticate(dev)
    resp = api.post("/api/v1/models/pd/versions/", {"artifact": SimpleUploadedFile("m.skops", buf.getvalue()),
                                                    "artifact_format": "skops"}, format="multipart")
    assert resp.status_code == 400
    assert "archive bomb" in resp.json()["detail"]


def test_huge_json_metrics_and_too_many_tags_are_400(api: Any, dev: Any) -> None:
    make_model(dev, "pd")
    api.force_authenticate(dev)
    huge = '{"m": "' + "x" * 200_000 + '"}'
    resp = api.post("/api/v1/models/pd/versions/", {"artifact": SimpleUploadedFile("m", skops_bytes()),
                                                    "artifact_format": "skops", "metrics": huge}, format="multipart")
    assert resp.status_code == 400 and "limit" in resp.json()["detail"]
    resp = api.post("/api/v1/models/", {"name": "t", "title": "t", "tags": [f"t{i}" for i in range(51)]},
                    format="json")
    assert resp.status_code == 400
    assert ModelVersion.objects.count() == 0


def test_markup_in_names_is_escaped_in_the_admin(client: Any, make_user: Any) -> None:
    admin_user = make_user("gov", "governance admin", "model developer", is_staff=True)
    make_model(admin_user, "xss", title='<script>alert("x")</script>', description="<b>bold</b>")
    client.force_login(admin_user)
    page = client.get("/admin/registry/registeredmodel/").content.decode()
    assert '<script>alert("x")</script>' not in page
    assert "&lt;script&gt;" in page


def test_csv_with_extra_or_missing_columns_is_400(api: Any, dev: Any) -> None:
    from registry.models import DatasetVersion
    from tests.factories import csv_bytes

    api.force_authenticate(dev)
    api.post("/api/v1/datasets/", {"name": "credit"}, format="json")
    first = api.post("/api/v1/datasets/credit/versions/", {"file": SimpleUploadedFile("d.csv", csv_bytes()),
                                                            "target_column": "risk"}, format="multipart")
    assert first.status_code == 201
    extra = b"risk,sex,age,amount,zip\n1,male,30,100,10115\n"
    missing = b"risk,sex,age\n1,male,30\n"
    for content, word in ((extra, "extra zip"), (missing, "missing amount")):
        resp = api.post("/api/v1/datasets/credit/versions/", {"file": SimpleUploadedFile("d.csv", content),
                                                               "target_column": "risk"}, format="multipart")
        assert resp.status_code == 400 and word in resp.json()["detail"]
    assert DatasetVersion.objects.count() == 1
    ok = api.post("/api/v1/datasets/credit/versions/", {"file": SimpleUploadedFile("d.csv", extra),
                                                         "target_column": "risk", "allow_schema_change": True},
                  format="multipart")
    assert ok.status_code == 201
