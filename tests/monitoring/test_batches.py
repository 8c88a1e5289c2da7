"""Receiving production batches: what is accepted, what is refused with nothing stored, each row's receipt."""

from __future__ import annotations

import io
import time
from typing import Any

import pandas as pd
import pytest
from django.core.files.storage import default_storage

from audit import signing
from audit.checkpoints import checkpoint_create
from audit.context import audit_context, user_actor
from audit.format.receipt import row_line
from audit.merkle import mth
from audit.models import AuditEntry
from audit.verifier import check_receipt, trusted_keys
from config.errors import InvalidInput, PermissionDenied
from monitoring.batches import outcomes_attach
from monitoring.models import Batch, Evaluation
from tests.monitoring.helpers import batch_csv, committed, monitored, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user: Any) -> tuple[Any, Any]:
    return monitored(make_user)


def _stored() -> set[str]:
    found = set()
    for folder in ("monitoring/batches", "monitoring/leaves"):
        if default_storage.exists(folder):
            found |= {f"{folder}/{n}" for n in default_storage.listdir(folder)[1]}
    return found


def test_a_batch_is_stored_with_the_root_of_its_rows_in_its_entry(world: Any) -> None:
    people, version = world
    content = batch_csv(3000, seed=2)
    batch = send(version, people.dev, content)
    assert batch.row_count == 3000 and batch.stage == "production" and batch.number == 1
    # The root, from the file as a reader outside modelgov would hash it: each record's cells as text, one leaf each.
    rows = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    from audit.format.receipt import row_leaf

    expected = mth([row_leaf(row_line(list(r))) for r in rows.itertuples(index=False)])
    assert batch.merkle_root == expected.hex()
    entry = AuditEntry.objects.get(object_type="monitoring.batch", object_id=str(batch.pk))
    assert entry.action == "monitoring.batch.ingest"
    changes = entry.as_json()["changes"]
    assert changes["merkle_root"]["new"] == batch.merkle_root and changes["row_count"]["new"] == 3000
    # Measured at once (no broker here: in this process), green: the same distribution as the baseline.
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.colour == "green"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda f: f.drop(columns=["amount"]), "missing amount"),
    (lambda f: f.assign(extra=1), "not expected extra"),
    (lambda f: f.assign(amount="lots"), "column 'amount' must hold finite numbers; row 1"),
    (lambda f: f.assign(score=1.5), "probability from 0 to 1"),
    (lambda f: f.assign(row_id="same"), "row ids must be unique"),
    (lambda f: f.assign(row_id=""), "every row needs its id"),
    (lambda f: f.iloc[0:0], "no rows"),
])
def test_a_bad_batch_is_refused_naming_what_is_wrong_and_nothing_is_stored(world: Any, mutate: Any,
                                                                          message: str) -> None:
    people, version = world
    before, entries = _stored(), AuditEntry.objects.count()
    bad = mutate(pd.read_csv(io.BytesIO(batch_csv(50, seed=3)))).to_csv(index=False).encode()
    with pytest.raises(InvalidInput, match=message):
        send(version, people.dev, bad)
    assert not Batch.objects.exists() and _stored() == before and AuditEntry.objects.count() == entries


def test_the_same_batch_twice_is_refused(world: Any) -> None:
    people, version = world
    send(version, people.dev, batch_csv(600, seed=4))
    with pytest.raises(InvalidInput, match="received before: batch 1"):
        send(version, people.dev, batch_csv(600, seed=4))
    assert Batch.objects.count() == 1


def test_only_versions_in_production_or_staging_are_monitored(make_user: Any) -> None:
    people, version = monitored(make_user, stage="none")
    with pytest.raises(InvalidInput, match="production or staging only"):
        send(version, people.dev, batch_csv(600, seed=5))


def test_only_the_models_developers_send_its_batches(world: Any) -> None:
    people, version = world
    with pytest.raises(PermissionDenied):
        send(version, people.val, batch_csv(600, seed=5))


def test_parquet_holds_the_same_rows_as_the_csv(world: Any, tmp_path: Any) -> None:
    people, version = world
    content = batch_csv(600, seed=6)
    path = tmp_path / "b.parquet"
    pd.read_csv(io.BytesIO(content)).to_parquet(path)
    batch = send(version, people.dev, path.read_bytes(), file_format="parquet")
    assert batch.row_count == 600
    frame = pd.read_csv(io.BytesIO(content))
    from audit.format.receipt import row_leaf

    expected = mth([row_leaf(row_line([c.item() if hasattr(c, "item") else c for c in r]))
                    for r in frame.itertuples(index=False)])
    assert batch.merkle_root == expected.hex()


def test_a_row_receipt_is_checked_offline_and_refused_before_a_checkpoint(world: Any, api: Any) -> None:
    people, version = world
    batch = send(version, people.dev, batch_csv(600, seed=7))
    api.force_authenticate(people.aud)
    early = api.get(f"/api/v1/batches/{batch.pk}/rows/5/receipt/")
    assert early.status_code == 409 and "checkpoint" in early.json()["detail"]
    cp = checkpoint_create()
    doc = api.get(f"/api/v1/batches/{batch.pk}/rows/5/receipt/").json()
    assert doc["row"]["line"].startswith("r5,")
    keys = trusted_keys([signing.public_key_pem(cp.as_json()["key"])])
    assert "row 5" in check_receipt(doc, keys)
    assert api.get(f"/api/v1/batches/{batch.pk}/rows/600/receipt/").status_code == 400


def test_the_api_takes_a_batch_and_answers_bad_ones_with_400(world: Any, api: Any) -> None:
    people, version = world
    api.force_authenticate(people.dev)
    with committed():
        ok = api.post(f"/api/v1/versions/{version.pk}/batches/",
                      {"file": io.BytesIO(batch_csv(3000, seed=8))}, format="multipart")
    assert ok.status_code == 201, ok.content
    again = api.post(f"/api/v1/versions/{version.pk}/batches/",
                     {"file": io.BytesIO(batch_csv(3000, seed=8))}, format="multipart")
    assert again.status_code == 400 and "received before" in again.json()["detail"]
    api.force_authenticate(people.val)
    refused = api.post(f"/api/v1/versions/{version.pk}/batches/",
                       {"file": io.BytesIO(batch_csv(600, seed=9))}, format="multipart")
    assert refused.status_code == 403
    state = api.get(f"/api/v1/versions/{version.pk}/monitoring/").json()
    assert state["state"] == "green" and len(state["evaluations"]) == 1
    model = api.get(f"/api/v1/models/{version.model.name}/monitoring/").json()
    assert [(v["version"], v["state"]) for v in model["versions"]] == [(version.pk, "green")]
    assert api.get("/api/v1/models/nobody/monitoring/").status_code == 404



def test_a_header_of_many_columns_is_refused_at_once(world: Any) -> None:
    # Each column counted by list.count made the check quadratic: 100,000 columns (700 KB) held a web worker for
    # minutes.
    people, version = world
    wide = (",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join("1" for _ in range(100_000)) + "\n").encode()
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="not expected c0"):
        send(version, people.dev, wide)
    assert time.monotonic() - started < 15
    with pytest.raises(InvalidInput, match="header is longer than 1024 KiB"):
        send(version, people.dev, b"c" * (2 << 20) + b"\n1\n")
    assert not Batch.objects.exists()


def test_a_row_with_a_cell_more_than_the_header_is_refused_not_read_as_an_index(world: Any) -> None:
    # pandas takes a first column the header does not name as the rows' index: the batch was measured, and its
    # rows' receipts vouched for, without the cell each row began with.
    people, version = world
    rows = b"\n".join(f"X{i},r{i},female,30,1500,0.5".encode() for i in range(600))
    with pytest.raises(InvalidInput, match="more cells than the header"):
        send(version, people.dev, b"row_id,sex,age,amount,score\n" + rows + b"\n")
    assert not Batch.objects.exists()


def _with_row(line: bytes) -> bytes:
    """A good batch with one more row, written as given."""
    return batch_csv(600, seed=3) + line + b"\n"


@pytest.mark.parametrize(("content", "file_format", "message"), [
    (b"row_id,s\xffx\n", "csv", "the batch is not UTF-8 text: invalid start byte"),
    (_with_row(b"r600,female,30,1500,0.\xff5"), "csv", "the batch is not UTF-8 text: invalid start byte"),
    (_with_row(b'r600,female,30,1500,"0.5'), "csv", "the batch is not a readable csv file: "),
    (b"not parquet at all", "parquet", "the batch is not a readable parquet file: "),
])
def test_an_unreadable_batch_is_refused_in_the_words_of_the_other_tabular_files(world: Any, content: bytes,
                                                                               file_format: str, message: str) -> None:
    # Its header and its rows are read in two places; the refusal's words are registry.tabular's, as a dataset's.
    people, version = world
    with pytest.raises(InvalidInput) as refused:
        send(version, people.dev, content, file_format=file_format)
    assert refused.value.message.startswith(message), refused.value.message
    assert not Batch.objects.exists()


@pytest.mark.parametrize(("content", "message"), [
    (b"row_id,label\nr0,1,extra\nr1,0,extra\n", "more cells than the header"),
    (b"row_id,label\nr0,\xff\n", "not UTF-8"),
    (b'row_id,label\nr0,"1\n', "not a readable csv"),
    (b"row_id,label\nr0\nr1,1\n", "needs its label"),
])
def test_unreadable_outcomes_are_refused_with_400(world: Any, api: Any, content: bytes, message: str) -> None:
    people, version = world
    batch = send(version, people.dev, batch_csv(600, seed=3))
    api.force_authenticate(people.dev)
    answer = api.post(f"/api/v1/batches/{batch.pk}/outcomes/", {"file": io.BytesIO(content)}, format="multipart")
    assert answer.status_code == 400 and message in answer.json()["detail"], answer.content
    assert not batch.outcomes.exists()


def test_the_label_column_is_not_the_row_id_column(world: Any) -> None:
    # "row_id,row_id": the second column's values were dropped and the ids read as the labels.
    people, version = world
    batch = send(version, people.dev, batch_csv(600, seed=3))
    with audit_context(actor=user_actor(people.dev), channel="system"), \
            pytest.raises(InvalidInput, match="label_column must not be the row id column"):
        outcomes_attach(batch=batch, by=people.dev, file=io.BytesIO(b"row_id,row_id\nr0,1\nr1,0\n"),
                        label_column="row_id", positive_label="r1")
    assert not batch.outcomes.exists()


@pytest.mark.parametrize("prediction", ["yes", "2", "0.5", ""])
def test_a_prediction_other_than_0_or_1_is_refused(world: Any, prediction: str) -> None:
    # The predicted class was never checked: "yes" or an empty cell was measured as the integer NaN casts to, 2 as
    # a class no rate counts, so selection rates were of numbers nobody sent.
    people, version = world
    rows = pd.read_csv(io.BytesIO(batch_csv(50, seed=3)))
    bad = rows.assign(pred=["1"] * 49 + [prediction]).to_csv(index=False).encode()
    with pytest.raises(InvalidInput, match="row 50"):
        send(version, people.dev, bad, prediction_column="pred")
    assert not Batch.objects.exists()
    good = send(version, people.dev, rows.assign(pred=(rows["score"] >= 0.5).astype(int)).to_csv(index=False).encode(),
                prediction_column="pred")
    assert good.prediction_column == "pred"
