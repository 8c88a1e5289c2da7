"""Reports run the artifact only in the sandbox: the same numbers as in-process, a misbehaving model fails its
report with the reason in bounded time, and the cover names the skops allowlist and the isolation."""

from __future__ import annotations

import io
import json
import pickle
import time
from typing import Any

import numpy as np
import pytest
from django.test import override_settings
from pypdf import PdfReader

from audit.context import audit_context, user_actor
from registry.sandbox import skops_types
from registry.sandbox.runner import trusted_types
from reports import loading, services
from reports.explain import compute_explanation
from reports.models import ReportStatus
from tests import sandbox_models
from tests.factories import csv_bytes, make_dataset_version, make_model, make_version, skops_bytes

pytestmark = pytest.mark.django_db


def test_the_sandbox_gives_the_numbers_the_model_gives_in_process(registered: dict[str, Any],
                                                                  german: dict[str, Any]) -> None:
    model, X = german["v2"], german["test"].drop(columns=["risk"])
    with loading.load_model(registered["v2"]) as sandboxed:
        assert sandboxed.feature_names == list(X.columns)
        y_pred, y_score = loading.predict(sandboxed, X)
        options: dict[str, Any] = {"seed": 7, "background_size": 50, "n_explain": 40, "n_local": 4, "n_stability": 5}
        metrics, arrays = loading.explain(sandboxed, X, **options)
    assert (y_pred == model.predict(X)).all()
    assert y_score is not None and np.array_equal(y_score, model.predict_proba(X)[:, 1])
    here_metrics, here = compute_explanation(model=model, X=X, **options)
    assert metrics == here_metrics
    assert np.array_equal(arrays.shap_values, here.shap_values) and arrays.features == here.features
    assert arrays.values.astype(str).equals(here.values.astype(str))


def _misbehaving(make_user: Any, model: Any) -> tuple[Any, Any, Any]:
    dev = make_user("dev", "model developer")
    train = make_dataset_version(dev, content=csv_bytes(40))
    evaluation = make_dataset_version(dev, content=csv_bytes(120))
    with override_settings(REGISTRY_TRUST_PICKLE=True):
        version = make_version(make_model(dev), dev, content=pickle.dumps(model), artifact_format="pickle",
                               training_datasets=[train])
    return dev, version, evaluation


def _run_report(dev: Any, version: Any, evaluation: Any, capture: Any) -> tuple[Any, float]:
    started = time.monotonic()
    with capture(execute=True), audit_context(actor=user_actor(dev), channel="system"):
        report = services.report_request(version=version, kind="bias", by=dev, evaluation_dataset=evaluation,
                                         config={"n_boot": 0})
    report.refresh_from_db()
    return report, time.monotonic() - started


@pytest.mark.parametrize(("model", "limits", "reason"), [
    (sandbox_models.EndlessAllocator(), {"REGISTRY_SANDBOX_MEMORY_MB": 1024},
     "ran out of memory (the limit is 1024 MB"),
    (sandbox_models.EndlessLoop(), {"REGISTRY_SANDBOX_CPU_SECONDS": 3},
     "stopped at its CPU time limit of 3 s"),
    (sandbox_models.Sleeper(), {"REGISTRY_SANDBOX_TIMEOUT_SECONDS": 3}, "did not finish within 3 s"),
    (sandbox_models.Crasher(), {}, "segmentation fault"),
], ids=["allocates-without-end", "loops-forever", "sleeps-forever", "crashes"])
def test_a_misbehaving_model_fails_its_report_with_the_reason_in_bounded_time(
        make_user: Any, django_capture_on_commit_callbacks: Any, model: Any, limits: dict[str, int],
        reason: str) -> None:
    dev, version, evaluation = _misbehaving(make_user, model)
    with override_settings(REGISTRY_TRUST_PICKLE=True, **limits):
        report, took = _run_report(dev, version, evaluation, django_capture_on_commit_callbacks)
    assert report.status == ReportStatus.FAILED
    assert reason in report.error, report.error
    assert not report.pdf and not report.json and report.metrics == {}  # nothing partial
    assert took < 60


def test_the_cover_names_the_allowlist_and_the_isolation(registered: dict[str, Any],
                                                         django_capture_on_commit_callbacks: Any) -> None:
    digest = skops_types.digest(trusted_types())
    with django_capture_on_commit_callbacks(execute=True):
        report = services.report_request(version=registered["v2"], kind="bias", by=registered["val"],
                                         config={"n_boot": 0})
    report.refresh_from_db()
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert report.config["skops_trusted_types_sha256"] == digest
    with report.pdf.open("rb") as fh:
        cover = PdfReader(io.BytesIO(fh.read())).pages[0].extract_text()
    assert "How the artifact was run" in cover and digest in cover.replace("\n", "")
    assert "own network namespace" in cover
    with report.json.open("rb") as fh:
        twin = json.loads(fh.read())
    assert twin["sandbox"]["skops trusted types (SHA-256 of the list)"] == digest
    assert twin["sandbox"]["isolation: network"].startswith("own network namespace")


def test_a_worker_trusting_other_types_fails_the_report_saying_so(registered: dict[str, Any]) -> None:
    report = services.report_request(version=registered["v2"], kind="bias", by=registered["val"])
    extra = ["sklearn.neighbors._classification.KNeighborsClassifier"]
    with override_settings(REGISTRY_SKOPS_EXTRA_TRUSTED_TYPES=extra):
        done = services.report_compute(report_id=report.pk)
    assert done.status == ReportStatus.FAILED and not done.pdf
    assert "skops trusted types" in done.error and report.config["skops_trusted_types_sha256"] in done.error


# -- what a report measures is what was registered ------------------------------------------------------------------

def _overwrite(field: Any, content: bytes) -> None:
    """What someone with write access to the store (the bucket, the disk) does; the product itself never would."""
    from pathlib import Path

    from django.core.files.storage import default_storage

    path = Path(default_storage.path(field.name))
    path.chmod(0o644)
    path.write_bytes(content)


def _sensitive_dataset(dev: Any, content: bytes) -> Any:
    return make_dataset_version(dev, content=content)


def test_an_artifact_replaced_in_storage_is_not_measured(make_user: Any,
                                                         django_capture_on_commit_callbacks: Any) -> None:
    dev = make_user("dev", "model developer")
    version = make_version(make_model(dev), dev, seed=0)
    evaluation = _sensitive_dataset(dev, csv_bytes(120))
    _overwrite(version.artifact, skops_bytes(seed=3))  # another, valid model
    report, _ = _run_report(dev, version, evaluation, django_capture_on_commit_callbacks)
    assert report.status == ReportStatus.FAILED
    assert "not the one registered" in report.error and version.artifact_sha256 in report.error


def test_an_evaluation_file_replaced_in_storage_is_not_measured(make_user: Any,
                                                                django_capture_on_commit_callbacks: Any) -> None:
    dev = make_user("dev", "model developer")
    version = make_version(make_model(dev), dev)
    evaluation = _sensitive_dataset(dev, csv_bytes(120))
    # The same rows with labels the model agrees with: a better score under the registered file's digest.
    _overwrite(evaluation.file, csv_bytes(120).replace(b"\n1,", b"\n0,"))
    report, _ = _run_report(dev, version, evaluation, django_capture_on_commit_callbacks)
    assert report.status == ReportStatus.FAILED
    assert "not the one registered" in report.error and evaluation.sha256 in report.error


def test_a_model_taking_the_target_as_a_feature_is_never_given_the_labels(
        make_user: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Registered without a training file, a model fitted on the label itself would measure perfectly."""
    import pandas as pd
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    dev = make_user("dev", "model developer")
    frame = pd.read_csv(io.BytesIO(csv_bytes(120)))
    cheat = DecisionTreeClassifier().fit(frame[["risk", "age"]], frame["risk"])
    version = make_version(make_model(dev), dev, content=sio.dumps(cheat))
    evaluation = _sensitive_dataset(dev, csv_bytes(120))
    report, _ = _run_report(dev, version, evaluation, django_capture_on_commit_callbacks)
    assert report.status == ReportStatus.FAILED
    assert "target column 'risk' as a feature" in report.error
