"""Real-world labels end to end: a Titanic-like data set whose `survived` is yes/no, and data with no labels."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from pypdf import PdfReader
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from audit.context import audit_context, user_actor
from registry.models import DatasetVersion
from reports import charts, loading, services
from reports.errors import ReportInputError

pytestmark = pytest.mark.django_db
FEATURES = ["pclass", "sex", "age", "fare"]


def _titanic(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pclass = rng.integers(1, 4, n)
    sex = rng.choice(["male", "female"], n)
    age = rng.integers(1, 80, n)
    fare = np.round(rng.gamma(2.0, 15.0, n) * (4 - pclass), 2)
    odds = 1.2 * (sex == "female") - 0.8 * (pclass - 2) - 0.01 * (age - 30) + rng.normal(0, 0.7, n)
    return pd.DataFrame({"survived": np.where(odds > 0, "yes", "no"), "pclass": pclass, "sex": sex, "age": age,
                         "fare": fare})


@pytest.fixture
def titanic(make_user: Any) -> dict[str, Any]:
    from registry.services.dataset import dataset_create, dataset_version_create
    from registry.services.model import registered_model_create
    from registry.services.version import model_version_create

    dev = make_user("dev", "model developer")
    val = make_user("val", "model validator")
    train, test = _titanic(700, 1), _titanic(400, 2)
    model = Pipeline([("pre", ColumnTransformer([("cat", OneHotEncoder(sparse_output=False), ["sex"])],
                                                remainder="passthrough")),
                      ("model", HistGradientBoostingClassifier(max_iter=40, random_state=0))])
    model.fit(train[FEATURES], (train["survived"] == "yes").astype(int))
    with audit_context(actor=user_actor(dev), channel="system"):
        ds = dataset_create(by=dev, name="titanic")
        made = [dataset_version_create(dataset=ds, by=dev, file=io.BytesIO(frame.to_csv(index=False).encode()),
                                       target_column="survived", positive_label="yes",
                                       sensitive_columns=["sex", "age"]) for frame in (train, test)]
        unlabelled = dataset_version_create(
            dataset=dataset_create(by=dev, name="titanic-unlabelled"), by=dev,
            file=io.BytesIO(test[FEATURES].to_csv(index=False).encode()), sensitive_columns=["sex"])
        registered = registered_model_create(by=dev, name="survival", title="Survival", risk_tier="low")
        version = model_version_create(model=registered, by=dev, artifact=io.BytesIO(sio.dumps(model)),
                                       artifact_format="skops", training_datasets=[made[0]],
                                       evaluation_datasets=[made[1]])
    return {"val": val, "version": version, "test": made[1], "frame": test, "unlabelled": unlabelled}


def _run(titanic: dict[str, Any], kind: str, capture: Any, dataset: DatasetVersion | None = None) -> Any:
    with capture(execute=True):
        report = services.report_request(version=titanic["version"], kind=kind, by=titanic["val"],
                                         evaluation_dataset=dataset or titanic["test"],
                                         config={"n_boot": 10, "n_explain": 60})
    report.refresh_from_db()
    return report


def _text(report: Any) -> str:
    with report.pdf.open("rb") as fh:
        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(fh.read())).pages)


def _twin(report: Any) -> dict[str, Any]:
    with report.json.open("rb") as fh:
        return json.loads(fh.read())


def _floats(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in _floats(v)]
    return [value] if isinstance(value, float) else []


def test_yes_no_labels_register_and_both_reports_succeed(titanic, django_capture_on_commit_callbacks):
    assert titanic["test"].positive_label == "yes"
    frame = loading.load_frame(titanic["test"])
    y = loading.labels(frame, titanic["test"])
    assert y.tolist() == (titanic["frame"]["survived"] == "yes").astype(int).tolist()
    bias = _run(titanic, "bias", django_capture_on_commit_callbacks)
    assert bias.status == "succeeded", bias.error
    # The numbers rest on the mapped labels: a recall computed from them, not from a failed parse.
    assert bias.metrics["overall"]["recall"]["value"] > 0.5
    # The labels as read are frozen with the request, and the report says how it read them.
    assert bias.config["labels"] == {"target_column": "survived", "positive_label": "yes"}
    assert "the value 'yes' is counted as 1" in _text(bias)
    # The JSON twin writes every number to at most 6 decimals.
    numbers = _floats(_twin(bias))
    assert numbers and all(round(f, 6) == f for f in numbers)
    explain = _run(titanic, "explainability", django_capture_on_commit_callbacks)
    assert explain.status == "succeeded", explain.error


def test_explainability_needs_no_labels(titanic, django_capture_on_commit_callbacks):
    assert titanic["unlabelled"].target_column == "" and titanic["unlabelled"].positive_label == ""
    explain = _run(titanic, "explainability", django_capture_on_commit_callbacks, titanic["unlabelled"])
    assert explain.status == "succeeded", explain.error
    method = explain.metrics["method"]
    assert method["rows_explained"] == 60
    # The method in full, in the JSON twin and the PDF: explainer, perturbation, background, rows, seed.
    assert _twin(explain)["method"] == method
    assert method["explainer"] == "TreeExplainer" and method["feature_perturbation"] == "interventional"
    assert method["background_size"] == 100 and re.fullmatch(r"[0-9a-f]{64}", method["background_sha256"])
    assert method["seed"] == services.DEFAULT_CONFIG["seed"] and method["local_cases"] == 4
    text = _text(explain)
    flat = " ".join(text.split())
    for shown in ("TreeExplainer", "interventional: a feature's absence is measured against the background sample",
                  method["background_sha256"], f"Seed {method['seed']}", "60 rows of the evaluation data",
                  "100 rows of the evaluation data"):
        assert shown in flat, shown
    # Adverse cases first, each kind in row order; the limitations printed once.
    local = explain.metrics["local"]
    order = [(not case["adverse"], case["row"]) for case in local]
    assert order == sorted(order) and any(c["adverse"] for c in local) and not all(c["adverse"] for c in local)
    assert flat.count("Limitations") == 1 and "7. Limitations of the explanation" in flat
    assert "raises the score" in flat or "red bars raise the score" in flat
    bias = _run(titanic, "bias", django_capture_on_commit_callbacks, titanic["unlabelled"])
    assert bias.status == "failed" and "no target column" in bias.error


def test_a_row_registered_before_labels_were_declared_still_needs_0_and_1():
    old = DatasetVersion(target_column="survived", positive_label="")
    with pytest.raises(ReportInputError, match="must hold only 0 and 1"):
        loading.labels(pd.DataFrame({"survived": ["yes", "no"]}), old)
    assert loading.labels(pd.DataFrame({"survived": ["1", "0"]}), old).tolist() == [1, 0]
    changed = DatasetVersion(target_column="survived", positive_label="yes")
    with pytest.raises(ReportInputError, match="it holds 3: 'maybe', 'no', 'yes'"):
        loading.labels(pd.DataFrame({"survived": ["yes", "no", "maybe"]}), changed)


def test_waterfall_bars_are_red_where_they_raise_and_blue_where_they_lower():
    case = {"row": 3, "prediction": 0, "contributions": {"a": 0.5, "b": -0.25, "c": 0.0, "d": -1.0}}
    bars = charts.waterfall_bars(case, base=0.1, top=3)
    assert [b["label"] for b in bars] == ["d", "a", "b", "1 others"]
    assert [b["colour"] for b in bars] == [charts.LOWERS, charts.RAISES, charts.LOWERS, charts.LOWERS]
    assert (charts.RAISES, charts.LOWERS) == ("#ff0051", "#008bfb")  # SHAP's own red and blue
    # Each bar starts where the last ended, from the base value.
    assert [b["start"] for b in bars] == pytest.approx([0.1, -0.9, -0.4, -0.65])
    assert charts.waterfall(case, 0.1)[:8] == b"\x89PNG\r\n\x1a\n"


def _fitted_on(frame: pd.DataFrame, labels: pd.Series) -> bytes:
    model = Pipeline([("pre", ColumnTransformer([("cat", OneHotEncoder(sparse_output=False), ["sex"])],
                                                remainder="passthrough")),
                      ("model", HistGradientBoostingClassifier(max_iter=40, random_state=0))])
    return sio.dumps(model.fit(frame[FEATURES], labels))


def _bias_of(make_user: Any, capture: Any, train: pd.DataFrame, test: pd.DataFrame, positive: str,
             artifact: bytes) -> Any:
    from registry.services.dataset import dataset_create, dataset_version_create
    from registry.services.model import registered_model_create
    from registry.services.version import model_version_create

    dev = make_user("dev", "model developer")
    with audit_context(actor=user_actor(dev), channel="system"):
        ds = dataset_create(by=dev, name="survival-data")
        made = [dataset_version_create(dataset=ds, by=dev, file=io.BytesIO(frame.to_csv(index=False).encode()),
                                       target_column="survived", positive_label=positive,
                                       sensitive_columns=["sex"]) for frame in (train, test)]
        registered = registered_model_create(by=dev, name="survival", title="Survival", risk_tier="low")
        version = model_version_create(model=registered, by=dev, artifact=io.BytesIO(artifact),
                                       artifact_format="skops", training_datasets=[made[0]])
    with capture(execute=True):
        report = services.report_request(version=version, kind="bias", by=dev, evaluation_dataset=made[1],
                                         config={"n_boot": 0})
    report.refresh_from_db()
    return report


def test_a_model_fitted_on_yes_no_labels_is_measured_through_the_positive_label(
        make_user: Any, django_capture_on_commit_callbacks: Any) -> None:
    train, test = _titanic(700, 1), _titanic(400, 2)
    artifact = _fitted_on(train, train["survived"])  # its classes are "no" and "yes"
    report = _bias_of(make_user, django_capture_on_commit_callbacks, train, test, "yes", artifact)
    assert report.status == "succeeded", report.error
    said = sio.loads(artifact, trusted=sio.get_untrusted_types(data=artifact)).predict(test[FEATURES])
    expected = float((said == test["survived"]).mean())
    assert report.metrics["overall"]["accuracy"]["value"] == pytest.approx(expected, abs=1e-6)


def test_a_favourable_outcome_written_0_is_not_measured_inverted(make_user: Any,
                                                                 django_capture_on_commit_callbacks: Any) -> None:
    """Labels 0/1 where 0 is the favourable outcome (positive_label "0"): the model predicts the file's own 0 and
    1, and a report that took its 1 for the positive label measured 1 - accuracy (a poor model looked good)."""
    train, test = _titanic(700, 1), _titanic(400, 2)
    for frame in (train, test):
        frame["survived"] = (frame["survived"] == "no").astype(int)
    artifact = _fitted_on(train, train["survived"])
    report = _bias_of(make_user, django_capture_on_commit_callbacks, train, test, "0", artifact)
    assert report.status == "succeeded", report.error
    said = sio.loads(artifact, trusted=sio.get_untrusted_types(data=artifact)).predict(test[FEATURES])
    expected = float((said == test["survived"]).mean())
    assert expected > 0.7
    assert report.metrics["overall"]["accuracy"]["value"] == pytest.approx(expected, abs=1e-6)
