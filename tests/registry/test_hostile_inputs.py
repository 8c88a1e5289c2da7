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


def _archive(entries: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", "{}")
        for i in range(entries - 1):
            zf.writestr(f"{i}.npy", b"")
    return buf.getvalue()


def test_a_skops_archive_with_too_many_entries_is_refused_before_it_is_parsed(
        api: Any, dev: Any, monkeypatch: Any) -> None:
    from registry import storage
    from registry.sandbox import skops_types

    monkeypatch.setattr(skops_types, "MAX_ZIP_ENTRIES", 1000)
    archive = _archive(1001)

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the archive was parsed")

    monkeypatch.setattr(storage.zipfile, "ZipFile", never)
    make_model(dev, "pd")
    api.force_authenticate(dev)
    resp = api.post("/api/v1/models/pd/versions/", {"artifact": SimpleUploadedFile("m.skops", archive),
                                                    "artifact_format": "skops"}, format="multipart")
    assert resp.status_code == 400, resp.content
    assert "1,001 entries" in resp.json()["detail"]
    assert ModelVersion.objects.count() == 0


def test_a_directory_larger_than_its_declared_count_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    """zipfile reads the central directory by its size, not its count: an archive declaring 2 entries over a
    directory of 3,000 is refused by the directory's size."""
    from registry.sandbox import skops_types

    monkeypatch.setattr(skops_types, "MAX_ZIP_DIRECTORY_BYTES", 64 * 1024)
    raw = bytearray(_archive(3000))
    at = raw.rfind(b"PK\x05\x06")
    raw[at + 8 : at + 12] = (2).to_bytes(2, "little") * 2
    path = tmp_path / "lying.skops"
    path.write_bytes(bytes(raw))
    assert skops_types.zip_directory(path)[0] == 2
    with pytest.raises(skops_types.SkopsRefused, match="declares 2 entries in a directory of"):
        skops_types.schema_of(path)


def test_the_entry_count_of_a_zip64_archive_is_read_from_its_zip64_record(tmp_path: Path) -> None:
    from registry.sandbox import skops_types

    path = tmp_path / "many.skops"
    path.write_bytes(_archive(65_537))  # more than the classic record's 65,535: zipfile writes zip64
    with zipfile.ZipFile(path) as zf:
        expected = len(zf.infolist())
    assert skops_types.zip_directory(path)[0] == expected == 65_537
    skops_types.require_small_directory(path)  # 65,537 is within the bound
