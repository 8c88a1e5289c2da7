"""A version in production with a validated baseline (real performance and bias reports measured on an evaluation
dataset), and production batches made from the same distribution or a drifted one."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from django.test import TestCase

from audit import writer
from audit.context import audit_context, system_actor, user_actor
from audit.format.jcs import digest_of
from reports.bias import BiasThresholds, compute_bias
from reports.loading import sensitive_frame
from reports.models import Report
from reports.performance import compute_performance, judge
from reports.services import report_succeed
from tests.factories import make_dataset_version
from tests.governance.helpers import People, stage_for_setup, version_for


def frame(rows: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Applicants: sex, age, amount, and the model's score of them (a logistic of amount), with risk drawn from it.
    `shift` moves the amounts (and so the scores) by that many standard deviations."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(1500 + 300 * shift, 300, rows).round(2)
    score = 1 / (1 + np.exp(-(amount - 1500) / 200))
    return pd.DataFrame({"sex": rng.choice(["female", "male"], rows), "age": rng.integers(20, 70, rows),
                         "amount": amount, "score": score.round(6),
                         "risk": (rng.random(rows) < score).astype(int)})


def _report(version: Any, kind: str, dataset: Any, metrics: dict[str, Any]) -> Report:
    with audit_context(actor=system_actor("test evidence"), channel="task"):
        report = Report(version=version, kind=kind, evaluation_dataset=dataset,
                        inputs={"artifact_sha256": version.artifact_sha256,
                                "evaluation_dataset_sha256": dataset.sha256})
        writer.save(report)
        return report_succeed(report_id=report.pk, metrics=metrics, json_name="", json_sha256=digest_of(metrics),
                              pdf_name="", pdf_sha256="b" * 64)


def monitored(make_user: Any, *, rows: int = 4000, stage: str = "production", tier: str = "high",
              **fields: Any) -> tuple[Any, Any]:
    """People, and a version of theirs in `stage` (made with `fields`) whose baseline is a performance and a
    bias report measured on an evaluation dataset of `rows` applicants."""
    people = People(make_user)
    version = version_for(people, tier=tier, **fields)
    base = frame(rows, seed=1)
    content = base[["risk", "sex", "age", "amount"]].to_csv(index=False).encode()
    dataset = make_dataset_version(people.dev, name=f"eval-{version.pk}", content=content,
                                   sensitive_columns=["sex", "age"])
    with audit_context(actor=system_actor("test evidence"), channel="system"), writer.atomic():
        writer.record(action="registry.modelversion.update", obj=version,
                      changes={"evaluation_datasets": {"old": [], "new": [dataset.pk]}})
        with writer.permit_governed_writes():
            version.evaluation_datasets.add(dataset)
    y, s = base["risk"].to_numpy(), base["score"].to_numpy()
    p = (s >= 0.5).astype(int)
    performance = judge(compute_performance(y_true=y, y_pred=p, y_score=s, seed=0, n_boot=0), {})
    _report(version, "performance", dataset, performance)
    bias = compute_bias(y_true=y, y_pred=p, y_score=s, sensitive=sensitive_frame(base, dataset),
                        thresholds=BiasThresholds.from_dict(None), seed=0, n_boot=0)
    _report(version, "bias", dataset, bias)
    stage_for_setup(version, stage)  # monitoring reads the stage, not how it was decided
    version.refresh_from_db()
    return people, version


def batch_csv(rows: int, seed: int, *, shift: float = 0.0, start: int = 0) -> bytes:
    data = frame(rows, seed, shift=shift)
    data.insert(0, "row_id", [f"r{start + i}" for i in range(rows)])
    return data.drop(columns=["risk"]).to_csv(index=False).encode()


def outcomes_csv(rows: int, seed: int, *, shift: float = 0.0, start: int = 0, label: tuple[str, str] = ("0", "1")
                 ) -> bytes:
    data = frame(rows, seed, shift=shift)
    return pd.DataFrame({"row_id": [f"r{start + i}" for i in range(rows)],
                         "label": [label[v] for v in data["risk"]]}).to_csv(index=False).encode()


def committed() -> Any:
    """Run what the block's commits would run after them (a test's transaction never commits): the evaluation
    an upload queues is measured, as it is in this process where no broker is configured."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def send(version: Any, by: Any, content: bytes, **kwargs: Any) -> Any:
    from monitoring.batches import batch_ingest

    with audit_context(actor=user_actor(by), channel="system"), committed():
        return batch_ingest(version=version, by=by, file=io.BytesIO(content), **kwargs)
