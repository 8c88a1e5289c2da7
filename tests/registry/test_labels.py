"""A dataset version's positive label: declared, checked against the target's values at registration, immutable."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEntry
from config.errors import InvalidInput
from registry import labels
from registry.models import DatasetVersion
from tests.factories import make_dataset_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def dev(make_user: Any) -> Any:
    return make_user("dev", "model developer")


def _csv(values: list[str], column: str = "survived") -> bytes:
    lines = [f"{column},sex,age"] + [f"{v},{'male' if i % 2 else 'female'},{20 + i}" for i, v in enumerate(values)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(("values", "positive"), [
    (["yes", "no"], "yes"), (["Y", "N"], "Y"), (["true", "false"], "true"), (["good", "bad"], "bad"),
    (["True", "False"], "False"),
])
def test_any_two_values_register_with_their_declared_positive_label(dev: Any, values: list[str], positive: str):
    version = make_dataset_version(dev, content=_csv(values * 10), target_column="survived",
                                   positive_label=positive)
    assert version.positive_label == positive
    entry = AuditEntry.objects.get(action="registry.datasetversion.create", object_id=str(version.pk)).as_json()
    assert entry["changes"]["positive_label"] == {"old": None, "new": positive}
    # The labels stay as the file writes them: the target is typed from its text, like any column.
    kind = {c["name"]: c["type"] for c in version.schema}["survived"]
    assert kind == ("boolean" if values[0] in ("true", "True") else "string")


@pytest.mark.parametrize("values", [["0", "1"], ["1.0", "0.0"], ["0", "0"]])
def test_a_0_1_column_defaults_to_1(dev: Any, values: list[str]):
    version = make_dataset_version(dev, content=_csv(values * 5), target_column="survived")
    assert version.positive_label == labels.DEFAULT_POSITIVE
    assert {c["name"]: c["type"] for c in version.schema}["survived"] == (
        "number" if "." in values[0] else "integer")


def test_two_text_values_without_a_declared_label_are_refused_naming_them(dev: Any):
    with pytest.raises(InvalidInput, match=r"holds 'no', 'yes', not 0 and 1: declare which value"):
        make_dataset_version(dev, content=_csv(["yes", "no"] * 5), target_column="survived")


def test_more_than_two_values_are_refused_naming_them(dev: Any):
    with pytest.raises(InvalidInput, match=r"must hold two values.*it holds 3: 'maybe', 'no', 'yes'"):
        make_dataset_version(dev, content=_csv(["yes", "no", "maybe"] * 5), target_column="survived",
                             positive_label="yes")
    many = [str(i) for i in range(40)]
    with pytest.raises(InvalidInput, match=r"it holds more than 20: '0', '1', '10', .*, \.\.\."):
        make_dataset_version(dev, content=_csv(many), target_column="survived", positive_label="1")
    assert not DatasetVersion.objects.exists()


def test_a_declared_label_that_is_absent_is_refused_naming_the_values(dev: Any):
    with pytest.raises(InvalidInput, match=r"positive label 'Yes' is not a value of the target column 'survived'; "
                                           r"it holds 'no', 'yes'"):
        make_dataset_version(dev, content=_csv(["yes", "no"] * 5), target_column="survived", positive_label="Yes")
    assert not DatasetVersion.objects.exists()


def test_empty_labels_and_a_label_without_target_are_refused(dev: Any):
    with pytest.raises(InvalidInput, match="empty in 1 row"):
        make_dataset_version(dev, content=_csv(["yes", "", "no"]), target_column="survived", positive_label="yes")
    with pytest.raises(InvalidInput, match="name the target column"):
        make_dataset_version(dev, content=_csv(["yes", "no"]), target_column="", positive_label="yes")


def test_the_api_takes_the_label_and_answers_400_naming_the_values(api: Any, dev: Any, make_user: Any):
    api.force_authenticate(dev)
    api.post("/api/v1/datasets/", {"name": "titanic"}, format="json")
    url = "/api/v1/datasets/titanic/versions/"
    bad = api.post(url, {"file": SimpleUploadedFile("t.csv", _csv(["yes", "no", "maybe"] * 3)),
                         "target_column": "survived", "positive_label": "yes"}, format="multipart")
    assert bad.status_code == 400 and "'maybe', 'no', 'yes'" in bad.json()["detail"]
    absent = api.post(url, {"file": SimpleUploadedFile("t.csv", _csv(["yes", "no"] * 3)),
                            "target_column": "survived", "positive_label": "1"}, format="multipart")
    assert absent.status_code == 400 and "'no', 'yes'" in absent.json()["detail"]
    ok = api.post(url, {"file": SimpleUploadedFile("t.csv", _csv(["yes", "no"] * 3)),
                        "target_column": "survived", "positive_label": "yes"}, format="multipart")
    assert ok.status_code == 201 and ok.json()["positive_label"] == "yes"
    assert api.get(f"/api/v1/dataset-versions/{ok.json()['id']}/").json()["positive_label"] == "yes"
    # Immutable: not among the fields an edit may change, even for a superuser.
    api.force_authenticate(make_user("root", superuser=True))
    edit = api.patch(f"/api/v1/dataset-versions/{ok.json()['id']}/", {"positive_label": "no"}, format="json")
    assert edit.status_code == 400
    assert DatasetVersion.objects.get().positive_label == "yes"


def test_positive_mask_maps_text_and_numbers():
    assert labels.positive_mask(pd.Series(["yes", "no", "yes"]), "yes").tolist() == [1, 0, 1]
    assert labels.positive_mask(pd.Series(["1.0", "0.0"]), "1").tolist() == [1, 0]
    assert labels.positive_mask(pd.Series(["1", "0"]), "0").tolist() == [0, 1]


@pytest.mark.parametrize("dtype", ["int64", "int8", "uint8", "float64", "float32", "bool"])
def test_the_positive_mask_of_many_numbers_reads_each_value_as_the_text_reading_does(dtype: str) -> None:
    """A model's predictions are read one distinct value at a time (labels.positive_mask), which must give what
    reading every row as text gives, for every positive label."""
    from registry.sandbox import labels as sandbox_labels

    rng = np.random.default_rng(1)
    choices = ([0, 1, 2, -1, 0.5, np.nan, -0.0] if dtype.startswith("float") else [0, 1] if dtype == "bool"
               else [0, 1, 2])
    for _ in range(10):
        series = pd.Series(rng.choice(choices, size=2000)).astype(dtype)
        for positive in ["1", "0", "1.0", "2", "nan", "-0.0", "0.5", "True", "yes"]:
            fast = sandbox_labels.positive_mask(series, positive)
            slow = sandbox_labels._positive_mask_text(series, positive)
            assert fast.dtype == slow.dtype and (fast == slow).all(), (dtype, positive)


@pytest.mark.parametrize("dtype", ["float16", "Int64", "Float64", "boolean", "UInt8"])
def test_the_positive_mask_of_many_numbers_holds_for_every_numeric_dtype(dtype: str) -> None:
    """pd.factorize gives a float16 column's distinct values back as float64, whose text differs (0.1 in float16
    reads '0.0999755859375' as float64): the distinct values are read in the column's own dtype."""
    from registry.sandbox import labels as sandbox_labels

    rng = np.random.default_rng(2)
    choices = [0, 1] if dtype in ("boolean", "UInt8") else [0, 1, 2, 0.1, 0.5] if dtype.startswith(("f", "F")) \
        else [0, 1, 2]
    for _ in range(5):
        series = pd.Series(rng.choice(choices, size=2000)).astype(dtype)
        if dtype[0].isupper() or dtype == "boolean":
            series.iloc[::7] = pd.NA
        for positive in ["1", "0", "1.0", "2", "0.1", "0.5", "True", "<NA>", "nan"]:
            fast = sandbox_labels.positive_mask(series, positive)
            slow = sandbox_labels._positive_mask_text(series, positive)
            assert fast.dtype == slow.dtype and (fast == slow).all(), (dtype, positive)
