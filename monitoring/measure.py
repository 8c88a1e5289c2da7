"""Measuring production rows against the baseline: each feature's drift (monitoring/drift.py), the score's, the
model's performance on the rows whose outcomes arrived, and each group's selection rate and TPR against the
validated bias report. The batch carries the model's outputs: no model is run here. Rows are read in chunks
from storage, never whole; only the score, the predicted class, the group of each row and the row ids are held
for the whole batch (a few bytes a row)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from config.errors import InvalidInput
from monitoring import drift
from monitoring.baseline import Baseline, load
from monitoring.batches import layout_of
from monitoring.files import batch_chunks
from monitoring.models import Batch, Evaluation
from reports import loading

NUMERIC = ("number", "integer")


def _batches(evaluation: Evaluation) -> list[Batch]:
    if evaluation.batch is not None:
        return [evaluation.batch]
    return list(Batch.objects.filter(version=evaluation.version, created_at__gt=evaluation.window_start,
                                     created_at__lte=evaluation.window_end).order_by("created_at", "number"))


def _textual(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values.replace("", np.nan) if _textual(values) else values,
                         errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _text(values: pd.Series) -> pd.Series:
    """A categorical column as its values, an empty cell missing (as the baseline's reader reads it): categories are
    compared as the text a row's cell renders to (monitoring.drift), so 3 and "3" are one category."""
    return values.replace("", np.nan) if _textual(values) else values


def _sensitive(values: pd.Series) -> pd.Series:
    """A sensitive column as numbers where every cell is one (an age, to be bucketed as the bias report does), else
    as its text."""
    numbers = pd.to_numeric(values.replace("", np.nan) if _textual(values) else values, errors="coerce")
    return numbers if bool(numbers.notna().all()) else values


def _outcomes(batch: Batch) -> dict[str, int]:
    found: dict[str, int] = {}
    for outcome in batch.outcomes.all():
        with outcome.file.open("rb") as fh:
            frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
        positive = frame[outcome.label_column] == outcome.positive_label
        found.update(zip(frame[batch.row_id_column].tolist(), np.asarray(positive, dtype=int).tolist(), strict=True))
    return found


def measure(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation's results: {rows, labelled_rows, features, score, performance, fairness, measurements}, where
    measurements are what a plan thresholds ({metric, subject, value, baseline})."""
    found = _batches(evaluation)
    if not found:
        return _silence(evaluation)
    base = load(evaluation.baseline)
    first = found[0]
    layout = layout_of(evaluation.version, row_id=first.row_id_column, score=first.score_column,
                       prediction=first.prediction_column)
    frame = loading.load_frame(base.dataset)
    missing = [f for f in layout.features if f not in frame.columns]
    if missing:
        raise InvalidInput(f"the baseline's evaluation dataset {base.dataset} lacks the features {', '.join(missing)}")
    profiles: dict[str, Any] = {}
    accumulators: dict[str, Any] = {}
    for name, kind in layout.features.items():
        if kind in NUMERIC:
            profiles[name] = drift.numeric_profile(_numbers(frame[name]))
            accumulators[name] = profiles[name].accumulator()
        else:
            profiles[name] = drift.categorical_profile(_text(frame[name]))
            accumulators[name] = profiles[name].accumulator()
    bins = ((base.performance or {}).get("calibration") or {}).get("bins") or []
    score_profile = drift.score_profile(bins) if bins else None
    score_acc = score_profile.accumulator() if score_profile is not None else None
    # A sensitive column a batch may leave out (it is not a feature): measured over the window wherever a batch has
    # it, a batch without it counted in the "unknown" group, which is never judged. Taken from the first batch
    # alone, one batch of a window without it failed the whole window's evaluation on that batch's missing column.
    sensitive = [c for c in base.dataset.sensitive_columns if any(c in b.columns for b in found)]
    ids, owners, scores, preds, groups = [], [], [], [], []
    rows = 0
    numeric = [f for f, kind in layout.features.items() if kind in NUMERIC]
    for batch, chunk in _chunks(found, numeric):
        rows += len(chunk)
        for name, acc in accumulators.items():
            acc.add(_numbers(chunk[name]) if layout.features[name] in NUMERIC else _text(chunk[name]))
        score = _numbers(chunk[batch.score_column])
        if score_acc is not None:
            score_acc.add(score)
        scores.append(score)
        preds.append(_numbers(chunk[batch.prediction_column]).astype(int) if batch.prediction_column
                     else (score >= 0.5).astype(int))
        ids.append(chunk[batch.row_id_column].astype(str).to_numpy(dtype=object))
        owners.append(np.full(len(chunk), batch.pk, dtype=np.int64))
        if sensitive:
            groups.append(pd.DataFrame({c: _sensitive(chunk[c]) if c in chunk.columns else
                                        pd.Series(np.nan, index=chunk.index, dtype=object) for c in sensitive}))
    y_score, y_pred, row_ids = np.concatenate(scores), np.concatenate(preds), np.concatenate(ids)
    # A row is its batch and its id: ids are unique within a batch only, and each batch has its own outcomes.
    row_batches = np.concatenate(owners)
    outcomes = {batch.pk: _outcomes(batch) for batch in found}
    labelled = np.array([i in outcomes[b] for b, i in zip(row_batches.tolist(), row_ids, strict=True)], dtype=bool) \
        if any(outcomes.values()) else np.zeros(len(row_ids), bool)
    y_true = np.array([outcomes[b][i] for b, i in zip(row_batches[labelled].tolist(), row_ids[labelled],
                                                        strict=True)], dtype=int)
    features = {name: {"kind": "numeric" if layout.features[name] in NUMERIC else "categorical",
                       **acc.result(), **_missing(profiles[name], acc.result())}
                for name, acc in accumulators.items()}
    score_result = score_acc.result() if score_acc is not None else None
    performance = drift.performance(y_true=y_true, y_score=y_score[labelled], y_pred=y_pred[labelled]) \
        if labelled.any() else None
    fairness = _fairness_of(pd.concat(groups, ignore_index=True), y_pred, labelled, y_true,
                            evaluation.plan.get("min_group_rows", 200)) if groups else None
    return {
        "batches": [{"id": b.pk, "number": b.number, "sha256": b.sha256, "merkle_root": b.merkle_root}
                    for b in found],
        "rows": rows,
        "labelled_rows": int(labelled.sum()),
        "features": features,
        "score": score_result,
        "performance": performance,
        "fairness": fairness,
        "measurements": _measurements(features, score_result, performance, fairness, base,
                                      int(evaluation.plan.get("min_group_rows", 200))),
    }


def _fairness_of(groups: pd.DataFrame, y_pred: np.ndarray, labelled: np.ndarray, y_true: np.ndarray,
                 min_rows: int) -> dict[str, Any]:
    """Selection rates and impact ratios over every row; TPR over the rows whose outcomes arrived. Groups of fewer
    than `min_rows` rows (the plan's min_group_rows) are listed, not judged."""
    every = drift.FairnessAccumulator(min_group_size=min_rows)
    every.add(groups={c: groups[c] for c in groups.columns}, y_pred=y_pred)
    result = every.result()
    if labelled.any():
        known = drift.FairnessAccumulator(min_group_size=min_rows)
        known.add(groups={c: groups[c][labelled].reset_index(drop=True) for c in groups.columns},
                  y_pred=y_pred[labelled], y_true=y_true)
        for attribute, found in known.result().items():
            for group, row in found["groups"].items():
                if group in result.get(attribute, {}).get("groups", {}):
                    result[attribute]["groups"][group]["tpr"] = row["tpr"]
    return result


def _missing(profile: Any, result: dict[str, Any]) -> dict[str, float | None]:
    """The share of a feature's cells left empty in the batch and in the baseline, and how far it moved."""
    base_total, total = profile.n + profile.missing, int(result["n"]) + int(result["missing"])
    base_share = profile.missing / base_total if base_total else None
    share = int(result["missing"]) / total if total else None
    return {"missing_share": share, "baseline_missing_share": base_share,
            "missing_shift": None if share is None or base_share is None else abs(share - base_share)}


def _chunks(found: list[Batch], numeric: list[str]) -> Iterator[tuple[Batch, pd.DataFrame]]:
    for batch in found:
        extra = [batch.score_column, *([batch.prediction_column] if batch.prediction_column else [])]
        for chunk in batch_chunks(batch, numbers=[*numeric, *extra]):
            yield batch, chunk


def _value(entry: Any) -> float | None:
    value = entry.get("value") if isinstance(entry, dict) else entry
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _measurements(features: dict[str, Any], score: dict[str, Any] | None, performance: dict[str, Any] | None,
                  fairness: dict[str, Any] | None, base: Baseline, min_rows: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(metric: str, subject: str, value: Any, baseline: Any = None) -> None:
        out.append({"metric": metric, "subject": subject, "value": _value(value), "baseline": _value(baseline)})

    for name, result in sorted(features.items()):
        add("feature_psi", name, result.get("psi"))
        add("feature_missing_shift", name, result.get("missing_shift"), result.get("baseline_missing_share"))
        if result["kind"] == "numeric":
            add("feature_ks", name, result.get("ks"))
        else:
            add("feature_js", name, result.get("js"))
    if score is not None:
        add("score_psi", "score", score.get("psi"))
    validated = (base.performance or {}).get("metrics") or {}
    if performance is not None:
        for metric in ("roc_auc", "ks", "gini", "accuracy"):
            now, then = _value(performance.get(metric)), _value(validated.get(metric))
            add(f"{metric}_drop", "model", None if now is None or then is None else then - now, then)
        add("expected_calibration_error", "model", performance.get("expected_calibration_error"))
    if fairness is not None:
        out.extend(_fairness(fairness, base.bias or {}, min_rows))
    return out


def _fairness(fairness: dict[str, Any], bias: dict[str, Any], min_rows: int) -> list[dict[str, Any]]:
    """Each group's selection rate and TPR against the validated bias report's, and each attribute's impact ratio.
    A group is compared only where it has at least `min_rows` rows both in the batch and in the validated report:
    a rate over fewer moves by more than the thresholds by chance alone, on either side."""
    validated = {a["attribute"]: {g["group"]: g for g in a.get("groups", [])} for a in bias.get("attributes", [])}
    out = []
    for attribute, result in sorted(fairness.items()):
        then = validated.get(attribute, {})
        for group, now in sorted(result.get("groups", {}).items()):
            before = then.get(group)
            if before is None or before.get("too_small") or group == "unknown" or \
                    int(now.get("n", 0)) < min_rows or int(before.get("n", 0)) < min_rows:
                continue
            for metric, name in (("selection_rate", "selection_rate_shift"), ("tpr", "tpr_shift")):
                a, b = _value(now.get(metric)), _value(before.get(metric))
                out.append({"metric": name, "subject": f"{attribute}={group}",
                            "value": None if a is None or b is None else abs(a - b), "baseline": b})
        out.append({"metric": "impact_ratio", "subject": attribute, "value": _value(result.get("impact_ratio")),
                    "baseline": None})
    return out


def _silence(evaluation: Evaluation) -> dict[str, Any]:
    """A window with no batch: what the plan says of a version monitoring has not heard from."""
    plan = evaluation.plan
    days = (evaluation.window_end - evaluation.window_start) / dt.timedelta(days=1)
    silence = []
    if days > plan["max_silence_days"]:
        silence.append({"metric": "days_without_batches", "subject": "version", "value": round(days, 1),
                        "baseline": None, "colour": "amber", "amber": plan["max_silence_days"], "red": None})
    return {"batches": [], "rows": 0, "labelled_rows": 0, "features": {}, "score": None, "performance": None,
            "fairness": None, "measurements": [], "silence": silence}
