"""An evaluation measured in parts: each of its batches cut into spans of about MONITORING_PART_ROWS rows
(monitoring/spans.py), each span measured by a task of its own on whichever worker takes it, its counts stored
under their digest with the part's entry, and the counts of every part merged once the last is in
(monitoring.evaluate.settle). The counts merge to the same results for any cut (monitoring/drift.py).

A part's counts are a NumPy archive read without pickle (`allow_pickle=False`): plain arrays and one JSON text.
They are read back only if they still hash to the digest the part's entry recorded."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from audit import writer
from audit.reconcile import logged_value
from config.errors import DomainError, InvalidInput
from monitoring import drift, measure
from monitoring.models import Evaluation, EvaluationPart, EvaluationStatus, Outcomes
from monitoring.spans import Span, spans_of
from registry.storage import Spooled, store

logger = logging.getLogger(__name__)

QUEUED, SUCCEEDED, FAILED = EvaluationStatus.QUEUED, EvaluationStatus.SUCCEEDED, EvaluationStatus.FAILED


def split(evaluation: Evaluation) -> list[EvaluationPart]:
    """The evaluation's parts in order, made (each with its entry) the first time: one per span of each batch it
    measures, each naming the outcomes uploads there now, so that every part reads the same labels."""
    with writer.atomic():
        locked = Evaluation.objects.select_for_update().get(pk=evaluation.pk)
        made = list(locked.parts.order_by("index"))
        if made or locked.status != QUEUED:
            return made
        for batch in measure.batches_of(locked):
            outcomes = sorted(batch.outcomes.values_list("pk", flat=True))
            for span in spans_of(batch, settings.MONITORING_PART_ROWS):
                part = EvaluationPart(evaluation=locked, index=len(made), batch=batch, first_row=span.first_row,
                                      rows=span.rows, span_start=span.start, span_end=span.end, outcomes=outcomes)
                writer.save(part, action="monitoring.part.queue")
                made.append(part)
    return made


_context: dict[tuple[int, str], measure.Context] = {}


def context_of(evaluation: Evaluation) -> measure.Context:
    """The measuring context of an evaluation's parts (its baseline's profiles), built once per process: a worker
    taking several parts of one evaluation reads the baseline once."""
    key = (evaluation.pk, evaluation.created_at.isoformat())
    found = _context.get(key)
    if found is None:
        batches, seen = [], set()
        for part in evaluation.parts.select_related("batch").order_by("index"):
            if part.batch_id not in seen:
                seen.add(part.batch_id)
                batches.append(part.batch)
        found = measure.context(evaluation, batches)
        _context.clear()
        _context[key] = found
    return found


def part_run(*, part_id: int) -> tuple[EvaluationPart, bool]:
    """Measure one part and record its counts; the part, and whether the evaluation is ready to settle (this was its
    last part, or it failed). Safe to run again: a finished part is returned as it is."""
    part = EvaluationPart.objects.select_related("evaluation", "evaluation__version", "batch").get(pk=part_id)
    if part.status != QUEUED or part.evaluation.status != QUEUED:
        return part, False
    name = digest = error = ""
    try:
        ctx = context_of(part.evaluation)
        outcomes = list(Outcomes.objects.filter(batch=part.batch, pk__in=part.outcomes).order_by("pk"))
        span = Span(first_row=part.first_row, rows=part.rows, start=part.span_start, end=part.span_end)
        name, digest = _store(dump(measure.measure_span(ctx, part.batch, span, outcomes)))
    except DomainError as exc:
        error = str(exc)
    except Exception as exc:  # a part ends failed with a reason, never leaves a worker crashed
        logger.exception("part %s failed", part_id)
        error = f"the measurement could not be made: {type(exc).__name__}: {exc}"
    with writer.atomic():
        Evaluation.objects.select_for_update().filter(pk=part.evaluation_id).values_list("pk", flat=True).first()
        part = EvaluationPart.objects.select_for_update().get(pk=part_id)
        if part.status != QUEUED:
            return part, False
        part.finished_at = timezone.now()
        if error:
            part.status, part.error = FAILED, error[:2000]
            writer.save(part, action="monitoring.part.fail")
            return part, True
        part.status, part.state, part.state_sha256 = SUCCEEDED, name, digest
        writer.save(part, action="monitoring.part.finish")
        last = not EvaluationPart.objects.filter(evaluation_id=part.evaluation_id, status=QUEUED).exists()
    return part, last


def combine(evaluation: Evaluation, made: list[EvaluationPart]) -> dict[str, Any]:
    """The evaluation's results from its parts' counts, each read only as its entry recorded it."""
    ctx = context_of(evaluation)
    return measure.combine(ctx, [load(ctx, part) for part in made])


def _store(blob: bytes) -> tuple[str, str]:
    digest = hashlib.sha256(blob).hexdigest()
    fd, name = tempfile.mkstemp(prefix="modelgov-part-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        return store(Spooled(path=Path(name), sha256=digest, size=len(blob)), prefix="monitoring/parts",
                     suffix=".npz"), digest
    finally:
        Path(name).unlink(missing_ok=True)


def dump(state: measure.PartState) -> bytes:
    """A part's counts as a NumPy archive: the arrays, and the rest as one JSON text."""
    arrays: dict[str, np.ndarray] = {"y_score": state.y_score, "y_pred": state.y_pred, "y_true": state.y_true}
    meta: dict[str, Any] = {"rows": state.rows, "features": {}, "score": None,
                            "every": state.every.to_state() if state.every is not None else None,
                            "known": state.known.to_state() if state.known is not None else None}

    def split_state(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
        rest = {}
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                arrays[f"{prefix}.{key}"] = value
            else:
                rest[key] = value
        return rest

    for i, (name, acc) in enumerate(state.features.items()):
        meta["features"][name] = split_state(f"f{i}", acc.to_state())
    if state.score is not None:
        meta["score"] = split_state("score", state.score.to_state())
    out = io.BytesIO()
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    np.savez(out, **arrays)  # type: ignore[arg-type]
    return out.getvalue()


def load(ctx: measure.Context, part: EvaluationPart) -> measure.PartState:
    """A finished part's counts, refused unless they are those its entry recorded and fit the baseline."""
    if part.status != SUCCEEDED:
        raise InvalidInput(f"part {part.index} of evaluation #{part.evaluation_id} has not finished")
    recorded = logged_value("monitoring.evaluationpart", part.pk, "state_sha256") or ""
    with default_storage.open(str(part.state.name), "rb") as fh:
        blob = fh.read()
    if not recorded or recorded != part.state_sha256 or hashlib.sha256(blob).hexdigest() != recorded:
        raise InvalidInput(f"the counts of part {part.index} of evaluation #{part.evaluation_id} are not those its "
                           "entry recorded: they were changed behind the log's back")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(arrays.pop("meta").tobytes())
        features = {}
        for i, name in enumerate(ctx.features):
            values = {**meta["features"][name],
                      **{k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"f{i}.")}}
            profile = ctx.profiles[name]
            features[name] = (drift.NumericAccumulator.from_state(profile, values)
                              if isinstance(profile, drift.NumericProfile)
                              else drift.CategoricalAccumulator.from_state(profile, values))
        score = None
        if ctx.score is not None and meta["score"] is not None:
            score = drift.NumericAccumulator.from_state(ctx.score, {
                **meta["score"], **{k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("score.")}})
        return measure.PartState(
            rows=int(meta["rows"]), features=features, score=score,
            every=drift.FairnessAccumulator.from_state(meta["every"]) if meta["every"] is not None else None,
            known=drift.FairnessAccumulator.from_state(meta["known"]) if meta["known"] is not None else None,
            y_score=arrays["y_score"].astype(float), y_pred=arrays["y_pred"].astype(int),
            y_true=arrays["y_true"].astype(int))
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInput(f"the counts of part {part.index} of evaluation #{part.evaluation_id} do not fit its "
                           f"baseline: {exc}") from exc

