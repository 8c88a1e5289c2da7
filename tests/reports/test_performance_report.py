"""The performance report end to end: measured from the artifact, deterministic, the claim beside it, in lineage."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from pypdf import PdfReader
from sklearn.metrics import roc_auc_score

from demo import credit
from governance.evidence import report_config
from reports import builders, services

pytestmark = pytest.mark.django_db


def _compute(registered: dict[str, Any], kind: str, version: str, capture: Any, **config: Any) -> Any:
    with capture(execute=True):
        report = services.report_request(version=registered[version], kind=kind, by=registered["val"],
                                         config={"n_boot": 30, **config})
    report.refresh_from_db()
    assert report.status == "succeeded", report.error
    return report


def _text(report: Any) -> str:
    with report.pdf.open("rb") as fh:
        pdf = fh.read()
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def test_measured_from_the_artifact_with_the_policy_thresholds(registered, german, django_capture_on_commit_callbacks):
    config = report_config(registered["v2"], "performance")
    assert config == {"metric_thresholds": {"roc_auc": {">=": 0.7}}}  # the production rule for a high-tier model
    report = _compute(registered, "performance", "v2", django_capture_on_commit_callbacks, **config)
    model, test = german["v2"], german["test"]
    auc = roc_auc_score(test["risk"], model.predict_proba(test[credit.features_of(model)])[:, 1])
    assert report.metrics["metrics"]["roc_auc"]["value"] == pytest.approx(auc, abs=1e-6)
    assert report.verdict == "pass" and report.metrics["checks"][0]["status"] == "PASS"
    assert report.metrics["rows"] == registered["test"].row_count
    assert report.config["metric_tolerance"] == 0.02 and report.metrics["tolerance"] == 0.02
    text = _text(report)
    for section in ("1. Scope and data", "3. Measured metrics", "5. Calibration", "6. Declared and measured",
                    "7. Verdict for the gate", "Regulatory mapping", "Sign-off"):
        assert section in text
    assert f"{int(auc * 1000) / 1000:.3f} [" in text  # the value, rounded down, with its interval
    assert "Verdict: PASS" in text and ">= 0.7" in text


def test_same_inputs_give_identical_bytes(registered, django_capture_on_commit_callbacks):
    report = _compute(registered, "performance", "v1", django_capture_on_commit_callbacks)
    with report.pdf.open("rb") as fh:
        first = fh.read()
    metrics, again = builders.build(report, progress=lambda v: None)
    assert again == first
    assert hashlib.sha256(services.canonical_json(metrics)).hexdigest() == report.json_sha256
    assert services.report_compute(report_id=report.pk).json_sha256 == report.json_sha256


def test_declared_beside_measured_and_flagged_beyond_the_tolerance(registered, django_capture_on_commit_callbacks,
                                                                   settings):
    from audit.context import audit_context, user_actor
    from registry.services.version import model_version_create

    dev = registered["dev"]
    with audit_context(actor=user_actor(dev), channel="system"), registered["v2"].artifact.open("rb") as fh:
        boastful = model_version_create(model=registered["v2"].model, by=dev, artifact=io.BytesIO(fh.read()),
                                        artifact_format="skops", evaluation_datasets=[registered["test"]],
                                        metrics={"roc_auc": 0.99, "accuracy": True, "f1": 0.9})
    registered["boastful"] = boastful
    settings.METRIC_CLAIM_TOLERANCE = 0.05
    report = _compute(registered, "performance", "boastful", django_capture_on_commit_callbacks,
                      metric_thresholds={"roc_auc": {">=": 0.8}})
    assert report.verdict == "fail"
    rows = {r["metric"]: r for r in report.metrics["declared"]}
    measured = report.metrics["metrics"]["roc_auc"]["value"]
    assert rows["roc_auc"] == {"metric": "roc_auc", "declared": 0.99, "measured": measured,
                               "difference": round(0.99 - measured, 6), "flagged": True}
    assert rows["accuracy"]["declared"] is None and rows["accuracy"]["note"] == "the declared value is not a number"
    assert rows["f1"]["note"] == "the product does not measure this metric" and not rows["f1"]["flagged"]
    assert not rows["gini"]["flagged"] and rows["gini"]["declared"] is None
    text = _text(report)
    assert "0.9900" in text and f"{measured:.4f}" in text and "FLAGGED" in text and "Verdict: FAIL" in text
    # The lineage report, requested after, shows the claim beside that report's measurement.
    lineage = _compute(registered, "lineage", "boastful", django_capture_on_commit_callbacks)
    claims = lineage.metrics["metric_claims"]
    assert claims["performance_report"] == report.pk and claims["tolerance"] == 0.05
    assert next(r for r in claims["metrics"] if r["metric"] == "roc_auc")["flagged"]
    text = _text(lineage)
    assert f"performance report #{report.pk}" in text and "FLAGGED" in text and "0.9900" in text


def test_lineage_before_any_performance_report_says_nothing_measured(registered, django_capture_on_commit_callbacks):
    lineage = _compute(registered, "lineage", "v1", django_capture_on_commit_callbacks)
    claims = lineage.metrics["metric_claims"]
    assert claims["performance_report"] is None
    assert claims["metrics"][0]["metric"] == "roc_auc" and claims["metrics"][0]["note"] == "not measured"
    assert "no performance report had succeeded" in _text(lineage)


def test_measured_only_on_held_out_data_named_at_registration(registered, api):
    from audit.context import audit_context, user_actor
    from registry.services.version import model_version_create

    dev, train, test = registered["dev"], registered["train"], registered["test"]
    with audit_context(actor=user_actor(dev), channel="system"), registered["v2"].artifact.open("rb") as fh:
        # The training set named for evaluation too: registration allows it, a performance report does not.
        both = model_version_create(model=registered["v2"].model, by=dev, artifact=io.BytesIO(fh.read()),
                                    artifact_format="skops", training_datasets=[train],
                                    evaluation_datasets=[train, test])
    api.force_authenticate(registered["val"])
    cases = [(both, train, f"dataset version #{train.pk} holds the data the version was trained on; a performance "
                           "report measures on held-out data"),
             (registered["v1"], train, f"dataset version #{train.pk} was not named as an evaluation dataset when the "
                                       f"version was registered (named: #{test.pk}); a performance report measures "
                                       "on one of those")]
    for version, dataset, message in cases:
        before = services.Report.objects.count()
        resp = api.post("/api/v1/reports/", {"version": version.pk, "kind": "performance",
                                             "evaluation_dataset": dataset.pk}, format="json")
        assert resp.status_code == 400 and resp.json()["detail"] == message
        assert services.Report.objects.count() == before  # nothing stored
    # Data named for evaluation and not trained on is measured; other kinds keep their own rules.
    resp = api.post("/api/v1/reports/", {"version": both.pk, "kind": "performance", "evaluation_dataset": test.pk},
                    format="json")
    assert resp.status_code == 202
