"""The demo's production months for v2: applicants scored by the production system (the demo's own copy of the model,
trained in this process, never loaded from the registered artifact), sent as batches with their outcomes. The first
month looks like the validation data; in the second, applicants ask for far larger amounts and are older, and
monitoring's plan turns red and opens a re-validation request."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.test import TestCase

from demo import credit
from monitoring.batches import batch_ingest, outcomes_attach
from monitoring.models import Batch, Breach, Evaluation
from registry.models import ModelVersion

ROWS = 1000


@dataclass
class Month:
    name: str
    batch: Batch
    evaluation: Evaluation | None
    breach: Breach | None


def _month(scorer: Any, data: pd.DataFrame, seed: int, drift: bool) -> tuple[bytes, bytes]:
    rng = np.random.default_rng(seed)
    rows = data.sample(n=ROWS, replace=True, random_state=seed).reset_index(drop=True)
    if drift:
        # A new product: larger loans to older applicants.
        rows["credit_amount"] = (rows["credit_amount"] * rng.uniform(1.8, 2.6, ROWS)).round().astype(int)
        rows["age"] = (rows["age"] + rng.integers(8, 15, ROWS)).clip(upper=75)
    features = credit.features_of(scorer)
    score = scorer.predict_proba(rows[features])[:, 1]
    batch = rows[features].copy()
    batch.insert(0, "row_id", [f"m{seed}-{i:04d}" for i in range(ROWS)])
    batch["score"] = score.round(6)
    batch["prediction"] = scorer.predict(rows[features]).astype(int)
    outcomes = pd.DataFrame({"row_id": batch["row_id"], "label": rows[credit.TARGET].astype(str)})
    return batch.to_csv(index=False).encode(), outcomes.to_csv(index=False).encode()


def run_months(dev: Any, version: ModelVersion) -> list[Month]:
    """Send each month's batch and its outcomes (once: a second run of the demo finds them received)."""
    train, test = credit.split(credit.load())
    scorer = credit.train_v2(train)
    data = pd.concat([train, test], ignore_index=True)
    months = []
    for number, (name, seed, drift) in enumerate((("month 1", 101, False), ("month 2 (drifted)", 102, True)), 1):
        batch = Batch.objects.filter(version=version, number=number).first()
        if batch is None:
            content, outcomes = _month(scorer, data, seed, drift)
            # Measured at once, in this process (no broker in the embedded default).
            with TestCase.captureOnCommitCallbacks(execute=True):
                batch = batch_ingest(version=version, by=dev, file=io.BytesIO(content), prediction_column="prediction")
            with TestCase.captureOnCommitCallbacks(execute=True):
                outcomes_attach(batch=batch, by=dev, file=io.BytesIO(outcomes), positive_label=credit.POSITIVE)
        evaluation = Evaluation.objects.filter(batch=batch).order_by("-id").first()
        breach = Breach.objects.filter(evaluation__batch=batch).order_by("-id").first()
        months.append(Month(name, batch, evaluation, breach))
    return months
