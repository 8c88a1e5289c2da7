"""Measuring production rows against the baseline: each feature's drift (monitoring/drift.py), the score's, the
model's performance on the rows whose outcomes arrived, and each group's selection rate and TPR against the
validated bias report. The batch carries the model's outputs: no model is run here. Rows are read in chunks
from storage, never whole; only the score, the predicted class, the group of each row and the row ids are held
for the whole batch (a few bytes a row)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from config.errors import InvalidInput
from monitoring import drift
from monitoring.baseline import Baseline, load
from monitoring.batches import layout_of
from monitoring.files import span_chunks
from monitoring.models import Batch, Evaluation
from monitoring.spans import Span
from reports import loading

NUMERIC = ("number", "integer")


def batches_of(evaluation: Evaluation) -> list[Batch]:
    if evaluation.batch is not None:
        return [evaluation.batch]
    return list(Batch.objects.filter(version=evaluation.version, created_at__gt=evaluation.window_start,
                                     created_at__lte=evaluation.window_end).order_by("created_at", "number"))


def _textual(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


def _as_numbers(values: pd.Series) -> pd.Series:
    """The cells as numbers, an empty or unreadable one missing."""
    return pd.to_numeric(values.replace("", np.nan) if _textual(values) else values, errors="coerce")


def _numbers(values: pd.Series) -> np.ndarray:
    return _as_numbers(values).to_numpy(dtype=float, na_value=np.nan)


def _numeric_column(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)


def _text(values: pd.Series) -> pd.Series:
    """A categorical column as its values, an empty cell missing (as the baseline's reader reads it): categories are
    compared as the text a row's cell renders to (monitoring.drift), so 3 and "3" are one category."""
    return values.replace("", np.nan) if _textual(values) else values


def _sensitive(values: pd.Series, numeric: bool) -> pd.Series:
    """A sensitive column as numbers where the baseline's is numeric (an age, to be bucketed as the bias report
    does; a cell that is no number is missing, the unknown group), else as its text. Decided by the baseline, once:
    decided by each chunk's cells, the same coded group ("01") was "1" in one chunk and "01" in another, so parts
    and one pass grouped rows differently."""
    return _as_numbers(values) if numeric else values


def _outcomes(batch: Batch, outcomes: list[Any] | None = None) -> dict[str, int]:
    """Each labelled row's outcome (1 for the positive label) by row id, from the given uploads or all of them."""
    found: dict[str, int] = {}
    for outcome in batch.outcomes.all() if outcomes is None else outcomes:
        with outcome.file.open("rb") as fh:
            frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
        positive = frame[outcome.label_column] == outcome.positive_label
        found.update(zip(frame[batch.row_id_column].tolist(), np.asarray(positive, dtype=int).tolist(), strict=True))
    return found


@dataclass
class Context:
    """What every part of an evaluation measures against: the batches' layout, the baseline's profiles of each
    feature and of the score, and the sensitive columns. Built from the frozen baseline alone, so a task on any
    machine builds the same one."""

    evaluation: Evaluation
    batches: list[Batch]
    base: Baseline
    features: dict[str, str]
    profiles: dict[str, Any]
    score: drift.NumericProfile | None
    # Each sensitive column measured, and whether it is read as numbers (as the baseline's column is).
    sensitive: dict[str, bool]

    @property
    def numeric(self) -> list[str]:
        return [f for f, kind in self.features.items() if kind in NUMERIC]


def context(evaluation: Evaluation, batches: list[Batch]) -> Context:
    base = load(evaluation.baseline)
    first = batches[0]
    layout = layout_of(evaluation.version, row_id=first.row_id_column, score=first.score_column,
                       prediction=first.prediction_column)
    frame = loading.load_frame(base.dataset)
    missing = [f for f in layout.features if f not in frame.columns]
    if missing:
        raise InvalidInput(f"the baseline's evaluation dataset {base.dataset} lacks the features {', '.join(missing)}")
    profiles = {name: drift.numeric_profile(_numbers(frame[name])) if kind in NUMERIC
                else drift.categorical_profile(_text(frame[name])) for name, kind in layout.features.items()}
    bins = ((base.performance or {}).get("calibration") or {}).get("bins") or []
    # A sensitive column a batch may leave out (it is not a feature): measured over the window wherever a batch has
    # it, a batch without it counted in the "unknown" group, which is never judged. Taken from the first batch
    # alone, one batch of a window without it failed the whole window's evaluation on that batch's missing column.
    sensitive = {c: _numeric_column(frame[c]) if c in frame.columns else False
                 for c in base.dataset.sensitive_columns if any(c in b.columns for b in batches)}
    return Context(evaluation=evaluation, batches=batches, base=base, features=dict(layout.features),
                   profiles=profiles, score=drift.score_profile(bins) if bins else None, sensitive=sensitive)


@dataclass
class PartState:
    """One span's counts (mergeable with any other span's, monitoring/drift.py) and its labelled rows' score,
    prediction and outcome (held whole: ROC AUC needs every labelled score)."""

    rows: int
    features: dict[str, Any]
    score: drift.NumericAccumulator | None
    every: drift.FairnessAccumulator | None
    known: drift.FairnessAccumulator | None
    y_score: np.ndarray
    y_pred: np.ndarray
    y_true: np.ndarray


def measure_span(ctx: Context, batch: Batch, span: Span, outcomes: list[Any] | None = None) -> PartState:
    """Count one span of one batch: every chunk's features, score and groups, and its labelled rows (labelled by
    `outcomes`, the batch's outcomes uploads to read; all of them by default)."""
    min_rows = int(ctx.evaluation.plan.get("min_group_rows", 200))
    accumulators = {name: ctx.profiles[name].accumulator() for name in ctx.features}
    score_acc = ctx.score.accumulator() if ctx.score is not None else None
    every = drift.FairnessAccumulator(min_group_size=min_rows) if ctx.sensitive else None
    known = drift.FairnessAccumulator(min_group_size=min_rows) if ctx.sensitive else None
    labels = _outcomes(batch, outcomes)
    rows = 0
    kept_score, kept_pred, kept_true = [], [], []
    extra = [batch.score_column, *([batch.prediction_column] if batch.prediction_column else [])]
    for chunk in span_chunks(batch, span, numbers=[*ctx.numeric, *extra]):
        rows += len(chunk)
        for name, acc in accumulators.items():
            acc.add(_numbers(chunk[name]) if ctx.features[name] in NUMERIC else _text(chunk[name]))
        score = _numbers(chunk[batch.score_column])
        if score_acc is not None:
            score_acc.add(score)
        pred = _numbers(chunk[batch.prediction_column]).astype(int) if batch.prediction_column \
            else (score >= 0.5).astype(int)
        ids = chunk[batch.row_id_column].astype(str).tolist()
        labelled = np.array([i in labels for i in ids], dtype=bool) if labels else np.zeros(len(ids), bool)
        truth = np.array([labels[i] for i, known_row in zip(ids, labelled.tolist(), strict=True) if known_row],
                         dtype=int)
        kept_score.append(score[labelled])
        kept_pred.append(pred[labelled])
        kept_true.append(truth)
        if every is not None and known is not None:
            groups = pd.DataFrame({c: _sensitive(chunk[c], ctx.sensitive[c]) if c in chunk.columns else
                                   pd.Series(np.nan, index=chunk.index, dtype=object) for c in ctx.sensitive})
            every.add(groups={c: groups[c] for c in groups.columns}, y_pred=pred)
            if labelled.any():
                known.add(groups={c: groups[c][labelled].reset_index(drop=True) for c in groups.columns},
                          y_pred=pred[labelled], y_true=truth)
    if rows != span.rows:
        raise InvalidInput(f"batch {batch.number}: rows {span.first_row + 1} to {span.first_row + span.rows} read "
                           f"as {rows} rows: the stored file is not the one ingested")
    return PartState(rows=rows, features=accumulators, score=score_acc, every=every, known=known,
                     y_score=np.concatenate([np.empty(0), *kept_score]).astype(float),
                     y_pred=np.concatenate([np.empty(0, int), *kept_pred]).astype(int),
                     y_true=np.concatenate([np.empty(0, int), *kept_true]).astype(int))


def combine(ctx: Context, states: list[PartState]) -> dict[str, Any]:
    """The evaluation's results from its parts' counts, merged in the parts' order: {batches, rows, labelled_rows,
    features, score, performance, fairness, measurements}, where measurements are what a plan thresholds
    ({metric, subject, value, baseline})."""
    first, rest = states[0], states[1:]
    accumulators = dict(first.features)
    score_acc, every, known = first.score, first.every, first.known
    for state in rest:
        accumulators = {n: acc.merge(state.features[n]) for n, acc in accumulators.items()}
        score_acc = score_acc.merge(state.score) if score_acc is not None and state.score is not None else score_acc
        every = every.merge(state.every) if every is not None and state.every is not None else every
        known = known.merge(state.known) if known is not None and state.known is not None else known
    y_score = np.concatenate([s.y_score for s in states])
    y_pred = np.concatenate([s.y_pred for s in states])
    y_true = np.concatenate([s.y_true for s in states])
    rows = sum(s.rows for s in states)
    expected = sum(int(b.row_count) for b in ctx.batches)
    if rows != expected:
        raise InvalidInput(f"the parts measured {rows} rows of the {expected} the batches hold")
    features = {name: {"kind": "numeric" if ctx.features[name] in NUMERIC else "categorical",
                       **acc.result(), **_missing(ctx.profiles[name], acc.result())}
                for name, acc in accumulators.items()}
    score_result = score_acc.result() if score_acc is not None else None
    performance = drift.performance(y_true=y_true, y_score=y_score, y_pred=y_pred) if y_true.size else None
    fairness = _fairness_of(every, known) if every is not None and known is not None else None
    return {
        "batches": [{"id": b.pk, "number": b.number, "sha256": b.sha256, "merkle_root": b.merkle_root}
                    for b in ctx.batches],
        "rows": rows,
        "labelled_rows": int(y_true.size),
        "features": features,
        "score": score_result,
        "performance": performance,
        "fairness": fairness,
        "measurements": _measurements(features, score_result, performance, fairness, ctx.base,
                                      int(ctx.evaluation.plan.get("min_group_rows", 200))),
    }


def measure(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation's results measured here, each batch whole, in one process: what its parts, measured by
    several tasks and combined (monitoring.parts), give."""
    found = batches_of(evaluation)
    if not found:
        return silence(evaluation)
    ctx = context(evaluation, found)
    return combine(ctx, [measure_span(ctx, b, Span(first_row=0, rows=int(b.row_count))) for b in found])


def _fairness_of(every: drift.FairnessAccumulator, known: drift.FairnessAccumulator) -> dict[str, Any]:
    """Selection rates and impact ratios over every row; TPR over the rows whose outcomes arrived. Groups of fewer
    than the plan's min_group_rows are listed, not judged."""
    result = every.result()
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


def silence(evaluation: Evaluation) -> dict[str, Any]:
    """A window with no batch: what the plan says of a version monitoring has not heard from."""
    plan = evaluation.plan
    days = (evaluation.window_end - evaluation.window_start) / dt.timedelta(days=1)
    silence = []
    if days > plan["max_silence_days"]:
        silence.append({"metric": "days_without_batches", "subject": "version", "value": round(days, 1),
                        "baseline": None, "colour": "amber", "amber": plan["max_silence_days"], "red": None})
    return {"batches": [], "rows": 0, "labelled_rows": 0, "features": {}, "score": None, "performance": None,
            "fairness": None, "measurements": [], "silence": silence}
