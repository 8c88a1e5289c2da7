"""The performance report on real-world labels: a yes/no target read through its declared positive label, each
number equal to scikit-learn's on the same rows, and the gate reading it."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, precision_score, recall_score, roc_auc_score

from audit.context import audit_context, user_actor
from governance import gates
from reports import services

pytestmark = pytest.mark.django_db
FEATURES = ["income", "debt"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income, debt = rng.normal(50, 15, n).round(1), rng.normal(20, 8, n).round(1)
    good = 0.05 * (income - 50) - 0.1 * (debt - 20) + rng.normal(0, 1, n) > 0
    return pd.DataFrame({"outcome": np.where(good, "good", "bad"), "income": income, "debt": debt})


def test_yes_no_style_labels_are_measured_through_the_positive_label(make_user: Any,
                                                                      django_capture_on_commit_callbacks: Any) -> None:
    from registry.services.dataset import dataset_create, dataset_version_create
    from registry.services.model import registered_model_create
    from registry.services.version import model_version_create

    dev, val = make_user("dev", "model developer"), make_user("val", "model validator")
    train, test = _frame(600, 1), _frame(300, 2)
    model = LogisticRegression().fit(train[FEATURES], (train["outcome"] == "good").astype(int))
    with audit_context(actor=user_actor(dev), channel="system"):
        ds = dataset_create(by=dev, name="loans")
        made = [dataset_version_create(dataset=ds, by=dev, file=io.BytesIO(f.to_csv(index=False).encode()),
                                       target_column="outcome", positive_label="good") for f in (train, test)]
        version = model_version_create(
            model=registered_model_create(by=dev, name="loans", title="Loans", risk_tier="low"), by=dev,
            artifact=io.BytesIO(sio.dumps(model)), artifact_format="skops", training_datasets=[made[0]],
            evaluation_datasets=[made[1]], metrics={"roc_auc": 0.99})
    with django_capture_on_commit_callbacks(execute=True):
        report = services.report_request(version=version, kind="performance", by=val, config={"n_boot": 10})
    report.refresh_from_db()
    assert report.status == "succeeded", report.error
    y = (test["outcome"] == "good").astype(int).to_numpy()
    score, pred = model.predict_proba(test[FEATURES])[:, 1], model.predict(test[FEATURES])
    got = {k: v["value"] for k, v in report.metrics["metrics"].items()}
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-6)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-6)
    assert got["precision"] == pytest.approx(precision_score(y, pred), abs=1e-6)
    assert got["recall"] == pytest.approx(recall_score(y, pred), abs=1e-6)
    assert got["log_loss"] == pytest.approx(log_loss(y, score), abs=1e-6)
    assert got["brier_score"] == pytest.approx(brier_score_loss(y, score), abs=1e-6)
    assert report.metrics["positives"] == int(y.sum())  # "good" counted as 1, "bad" as 0
    # The declared 0.99 is a claim beside the measurement; the gate reads the measurement and names the report.
    declared = next(r for r in report.metrics["declared"] if r["metric"] == "roc_auc")
    assert declared["declared"] == 0.99 and declared["flagged"]
    rule = {"metrics": {"roc_auc": {">=": 0.95}}}
    gate = next(g for g in gates.evaluate(version, rule) if g.name == "metric.roc_auc")
    assert not gate.passed and f"measured by performance report #{report.pk}" in gate.detail
