"""Wide and long data sets: columns bounded from the header before the file is read, rows streamed in chunks,
types as pandas gives them for the whole file, compact stored schemas and small pages."""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pandas as pd
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.context import audit_context, user_actor
from audit.models import AuditEntry
from config.errors import InvalidInput
from registry import tabular
from registry.models import DatasetVersion
from registry.services.dataset import dataset_create, dataset_version_create
from tests.factories import make_dataset_version
from tests.governance.helpers import People

pytestmark = pytest.mark.django_db


@pytest.fixture
def dev(make_user: Any) -> Any:
    return make_user("dev", "model developer")


def _wide(columns: int, rows: int = 3) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    body = "\n".join(",".join(str(r + i) for i in range(columns)) for r in range(rows))
    return f"{header}\n{body}\n".encode()


def _stored_datasets() -> list[str]:
    return default_storage.listdir("datasets")[1] if default_storage.exists("datasets") else []


def test_2001_columns_are_a_400_and_nothing_is_stored(api: Any, dev: Any):
    api.force_authenticate(dev)
    api.post("/api/v1/datasets/", {"name": "wide"}, format="json")
    before = _stored_datasets()
    resp = api.post("/api/v1/datasets/wide/versions/", {"file": SimpleUploadedFile("w.csv", _wide(2001))},
                    format="multipart")
    assert resp.status_code == 400
    assert "2001 columns; at most 2000 are accepted (REGISTRY_MAX_DATASET_COLUMNS)" in resp.json()["detail"]
    assert not DatasetVersion.objects.exists() and _stored_datasets() == before
    ok = api.post("/api/v1/datasets/wide/versions/", {"file": SimpleUploadedFile("w.csv", _wide(2000))},
                  format="multipart")
    assert ok.status_code == 201 and len(ok.json()["schema"]) == 2000


class _Endless(io.RawIOBase):
    """A wide header, then rows without end: reading it whole would never finish."""

    def __init__(self, header: bytes) -> None:
        self.head, self.served = header, 0
        self.row = b"1" + b",1" * (header.count(b",")) + b"\n"

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.served > 64 * 1024 * 1024:
            raise AssertionError("the upload was read far past its header")
        block = self.head if self.served == 0 else self.row * max(1, (1 << 20) // len(self.row))
        self.served += len(block)
        return block


def test_the_bound_is_checked_from_the_first_bytes_before_the_rest_is_read(dev: Any):
    header = (",".join(f"column_{i}" for i in range(2500)) + "\n").encode()
    with audit_context(actor=user_actor(dev), channel="system"):
        dataset = dataset_create(by=dev, name="endless")
        with pytest.raises(InvalidInput, match="2500 columns; at most 2000"):
            dataset_version_create(dataset=dataset, by=dev, file=cast(IO[bytes], _Endless(header)))
        # A header with no end is refused at its bound too: one name of megabytes, or names without end.
        with pytest.raises(InvalidInput, match="column name is longer than 200"):
            dataset_version_create(dataset=dataset, by=dev, file=cast(IO[bytes], _Endless(b"x" * (4 << 20))))
        with pytest.raises(InvalidInput, match="header is longer than"):
            long_names = b",".join([b"y" * 100_000] * 100)
            dataset_version_create(dataset=dataset, by=dev, file=cast(IO[bytes], _Endless(long_names)))


def test_the_bound_is_a_setting(dev: Any, settings: Any):
    settings.REGISTRY_MAX_DATASET_COLUMNS = 5
    make_dataset_version(dev, "five", content=_wide(5), target_column="", sensitive_columns=[])
    with pytest.raises(InvalidInput, match="6 columns; at most 5"):
        make_dataset_version(dev, "six", content=_wide(6), target_column="", sensitive_columns=[])


@pytest.mark.parametrize(("content", "message"), [
    (b"a,b,a\n1,2,3\n", "duplicate column names: a"),
    (b"a,,b\n1,2,3\n", "column without a name"),
    (("x" * 201 + ",b\n1,2\n").encode(), "longer than 200 characters"),
    (b"a,b\n", "header but no rows"),
    (b"a,b\n1,2\n3,4,5\n", "not a readable CSV"),
    (b"a,b\n1,\xff\n", "not UTF-8"),
])
def test_bad_headers_and_rows_are_refused(dev: Any, content: bytes, message: str):
    with pytest.raises(InvalidInput, match=message):
        make_dataset_version(dev, content=content, target_column="", sensitive_columns=[])


@pytest.mark.parametrize(("raised", "also", "message"), [
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), (),
     "the file is not UTF-8 text: invalid start byte"),
    (pd.errors.ParserError("Error tokenizing data"), (), "the file is not a readable TSV file: Error tokenizing data"),
    (pd.errors.EmptyDataError("No columns to parse"), (), "the file is not a readable TSV file: No columns to parse"),
    (ValueError("x" * 300), (), "the file is not a readable TSV file: " + "x" * 200),
    (OSError("bad footer"), (OSError,), "the file is not a readable TSV file: bad footer"),
    (InvalidInput("refused inside"), (Exception,), "refused inside"),
])
def test_a_file_the_parser_cannot_read_is_refused_in_one_set_of_words(raised: Exception, also: Any,
                                                                        message: str) -> None:
    with pytest.raises(InvalidInput) as refused, tabular.refuse_unreadable("the file is", "TSV", also=also):
        raise raised
    assert refused.value.message == message


def test_what_is_not_named_is_not_taken_for_an_unreadable_file() -> None:
    with pytest.raises(OSError, match="disk"), tabular.refuse_unreadable("the file is"):
        raise OSError("disk")


def test_chunked_types_and_counts_equal_pandas_reading_the_whole_file(dev: Any, tmp_path: Path,
                                                                       monkeypatch: Any):
    rng = np.random.default_rng(3)
    n = 1000
    frame = pd.DataFrame({
        "ints": rng.integers(0, 100, n).astype(object),
        "ints_gap_late": rng.integers(0, 100, n).astype(object),
        "floats": rng.normal(size=n),
        "text": rng.choice(["a", "b"], n),
        "bools": rng.choice([True, False], n),
        "bools_gap": rng.choice([True, False], n).astype(object),
        "empty": [None] * n,
        "int_then_text": rng.integers(0, 9, n).astype(object),
        "empty_then_int": [None] * (n - 10) + list(range(10)),
        "label": rng.choice(["yes", "no"], n),
    })
    frame.loc[n - 3, "ints_gap_late"] = None
    frame.loc[500, "bools_gap"] = None
    frame.loc[n - 1, "int_then_text"] = "x"
    path = tmp_path / "mixed.csv"
    frame.to_csv(path, index=False)
    monkeypatch.setattr(tabular, "CHUNK_CELLS", 10 * len(frame.columns))  # 100 chunks of 10 rows
    shape = tabular.inspect_csv(path, target_column="label", sensitive_columns=[], positive_label="yes")
    whole = pd.read_csv(path, low_memory=False)
    expected = [{"name": c, "type": tabular._kind(whole[c]).replace("empty", "number"),
                 "nulls": int(whole[c].isna().sum())} for c in whole.columns]
    assert shape.schema == expected and shape.row_count == n


def test_stored_schema_is_one_small_entry_per_column_and_pages_stay_small(api: Any, dev: Any, client: Any,
                                                                         make_user: Any):
    version = make_dataset_version(dev, "wide", content=_wide(2000, rows=50), target_column="",
                                   sensitive_columns=[])
    assert all(set(c) == {"name", "type", "nulls"} for c in version.schema)
    api.force_authenticate(dev)
    detail = api.get(f"/api/v1/dataset-versions/{version.pk}/")
    assert len(detail.json()["schema"]) == 2000 and len(detail.content) < 120_000
    for url in ("/api/v1/dataset-versions/", "/api/v1/datasets/wide/versions/"):
        listing = api.get(url)
        assert listing.status_code == 200 and "schema" not in listing.json()["results"][0]
        assert len(listing.content) < 2_000
    client.force_login(make_user("root", superuser=True))
    page = client.get(f"/admin/registry/datasetversion/{version.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Schema: 2000 column(s) (2000 integer)" in html and "and 1950 more" in html
    assert "<code>c49</code>" in html and "<code>c50</code>" not in html
    assert len(page.content) < 100_000


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


@pytest.mark.django_db
def test_a_column_name_with_a_nul_is_refused_by_name_on_every_database(api: Any, people: People) -> None:
    api.force_authenticate(people.root)
    assert api.post("/api/v1/datasets/", {"name": "ds"}, format="json").status_code == 201
    before = AuditEntry.objects.count()
    resp = api.post("/api/v1/datasets/ds/versions/",
                    {"file": SimpleUploadedFile("d.csv", b"risk,s\x00ex\n1,m\n")}, format="multipart")
    assert resp.status_code == 400 and "NUL" in resp.json()["detail"], resp.content
    assert AuditEntry.objects.count() == before
