"""One batch measured in parts by separate tasks: cut between records (CSV) or row groups (Parquet), each cut held to
the batch's own leaves, each part's counts stored under the digest its entry records, and the merge equal to one
pass over the whole batch. Evaluations left queued by a broker outage are sent again by the schedule."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import random
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.test import override_settings
from django.utils import timezone

from audit.context import audit_context, system_actor
from monitoring import evaluate, measure, parts, spans
from monitoring.batches import outcomes_attach
from monitoring.models import Evaluation, EvaluationPart
from monitoring.services import evaluations_resend
from tests.monitoring.helpers import batch_csv, committed, frame, monitored, outcomes_csv, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user: Any) -> tuple[Any, Any]:
    return monitored(make_user)


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell


@pytest.mark.parametrize("seed", range(40))
def test_the_record_starts_are_pandas_records(seed: int, monkeypatch: Any) -> None:
    monkeypatch.setattr(spans, "BLOCK", 5)  # cuts every few bytes: quotes and line ends across blocks
    rng = random.Random(seed)
    cells = ["1", "", "x y", '"q"', "a,b", "l\nm", "c\r\nd", '""', "3.5", "é"]
    term = rng.choice(["\n", "\r\n"])
    lines = [",".join(_quoted(rng.choice(cells)) for _ in range(3)) for _ in range(rng.randint(1, 15))]
    blank = [term] * rng.randint(0, 2)
    data = ("\ufeffa,b,c" + term + term.join(lines) + "".join(blank) + rng.choice(["", term])).encode()
    starts = spans.record_starts(io.BytesIO(data))
    whole = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False)
    assert starts is not None and starts.size - 2 == len(whole)
    for row in range(len(whole)):
        span = spans.Span(first_row=row, rows=1, start=int(starts[row + 1]), end=int(starts[row + 2]))
        one = pd.read_csv(spans.span_source(io.BytesIO(data), span), dtype=str, keep_default_na=False,
                          na_filter=False)
        assert one.iloc[0].tolist() == whole.iloc[row].tolist()


@pytest.mark.parametrize("data", [b'a,b\n1,x"y\n2,3\n', b'a,b\n1,"x"y\n', b"a,b\n1,2\r3,4\n"])
def test_bytes_that_quote_counting_cannot_cut_are_not_cut(data: bytes) -> None:
    # A quote inside an unquoted field or after a closing one, a bare CR ending a line: a parser may read
    # records there that counting quotes would not find.
    assert spans.record_starts(io.BytesIO(data)) is None


def _close(a: Any, b: Any) -> None:
    """Equal results, floats to a relative 1e-9 (a mean summed in another order)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _close(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _close(x, y)
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    else:
        assert a == b


def _one_pass(evaluation: Evaluation) -> dict[str, Any]:
    return measure.measure(evaluation)


@override_settings(MONITORING_PART_ROWS=170)
def test_a_csv_batch_is_measured_in_parts_equal_to_one_pass(world: Any) -> None:
    people, version = world
    batch = send(version, people.dev, batch_csv(1000, seed=21, shift=0.8))
    with audit_context(actor=system_actor("test"), channel="system"), committed():
        outcomes_attach(batch=batch, by=people.dev, file=io.BytesIO(outcomes_csv(700, seed=21, shift=0.8)))
    evaluation = Evaluation.objects.filter(batch=batch).order_by("-created_at").first()
    assert evaluation is not None and evaluation.status == "succeeded", evaluation.error if evaluation else None
    made = list(evaluation.parts.order_by("index"))
    assert [(p.first_row, p.rows) for p in made] == [(0, 170), (170, 170), (340, 170), (510, 170), (680, 170),
                                                     (850, 150)]
    assert all(p.status == "succeeded" and p.state_sha256 for p in made)
    # The spans tile the file's data records: each ends where the next begins.
    assert all(a.span_end == b.span_start for a, b in itertools.pairwise(made))
    results = dict(evaluation.results)
    results.pop("findings")
    _close(results, _one_pass(evaluation))
    assert evaluation.rows == 1000 and evaluation.labelled_rows == 700
    assert results["performance"]["n"] == 700


def _parquet(rows: int, seed: int, group: int) -> bytes:
    data = frame(rows, seed, shift=0.6)
    data.insert(0, "row_id", [f"r{i}" for i in range(rows)])
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(data.drop(columns=["risk"]), preserve_index=False), out,
                   row_group_size=group)
    return out.getvalue()


@override_settings(MONITORING_PART_ROWS=250)
def test_a_parquet_batch_is_cut_between_its_row_groups(world: Any) -> None:
    people, version = world
    batch = send(version, people.dev, _parquet(900, seed=5, group=100), file_format="parquet")
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.status == "succeeded", evaluation.error
    made = list(evaluation.parts.order_by("index"))
    assert [(p.span_start, p.span_end, p.first_row, p.rows) for p in made] == [
        (0, 3, 0, 300), (3, 6, 300, 300), (6, 9, 600, 300)]
    results = dict(evaluation.results)
    results.pop("findings")
    _close(results, _one_pass(evaluation))


@override_settings(MONITORING_PART_ROWS=100)
def test_a_csv_quote_counting_cannot_cut_is_measured_whole(world: Any) -> None:
    people, version = world
    data = frame(300, seed=9)
    data.insert(0, "row_id", [f"r{i}" for i in range(300)])
    # A sex written x"y: a quote inside an unquoted field.
    text = data.drop(columns=["risk"]).to_csv(index=False).replace("\nr7,female,", '\nr7,fe"male,', 1)
    assert 'fe"male' in text
    batch = send(version, people.dev, text.encode())
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.status == "succeeded", evaluation.error
    assert [(p.first_row, p.rows, p.span_start) for p in evaluation.parts.all()] == [(0, 300, None)]


def _split_and_measure(evaluation: Evaluation) -> list[EvaluationPart]:
    """The evaluation's parts, each measured, not settled: what the workers leave before the last one merges."""
    made = parts.split(evaluation)
    for part in made:
        parts.part_run(part_id=part.pk)
    return list(evaluation.parts.order_by("index"))


@override_settings(MONITORING_PART_ROWS=200)
def test_counts_changed_in_storage_are_refused_not_merged(world: Any) -> None:
    people, version = world
    with mock.patch.object(evaluate, "part_queued"):  # the parts stay queued: this test runs them
        batch = send(version, people.dev, batch_csv(600, seed=2))
    evaluation = Evaluation.objects.get(batch=batch)
    with audit_context(actor=system_actor("test worker"), channel="task"):
        made = _split_and_measure(evaluation)
        assert len(made) == 3 and all(p.status == "succeeded" for p in made)
        name = str(made[1].state.name)
        # Someone with the storage's keys writes other counts under the part's name.
        other = parts.dump(measure.measure_span(parts.context_of(evaluation), batch,
                                                spans.Span(first_row=0, rows=200, start=made[0].span_start,
                                                           end=made[0].span_end)))
        with open(default_storage.path(name), "wb") as fh:
            fh.write(other)
        settled = evaluate.settle(evaluation.pk)
    assert settled.status == "failed"
    assert "part 1 of evaluation" in settled.error and "changed behind the log's back" in settled.error
    assert settled.colour == "" and not settled.results


@override_settings(MONITORING_PART_ROWS=200)
def test_a_part_that_fails_fails_its_evaluation_naming_the_rows(world: Any) -> None:
    people, version = world
    with mock.patch.object(evaluate, "part_queued"):
        batch = send(version, people.dev, batch_csv(600, seed=2))
    evaluation = Evaluation.objects.get(batch=batch)
    with audit_context(actor=system_actor("test worker"), channel="task"):
        made = parts.split(evaluation)
        with mock.patch.object(measure, "measure_span", side_effect=MemoryError("worker out of memory")):
            evaluate.evaluation_part_run(part_id=made[2].pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "failed"
    assert evaluation.error.startswith("part 2 (rows 401 to 600 of batch 1): the measurement could not be made")
    # The other parts, if they run later, change nothing.
    with audit_context(actor=system_actor("test worker"), channel="task"):
        assert evaluate.evaluation_part_run(part_id=made[0].pk).status == "queued"


def test_a_part_of_a_foreign_shape_is_refused(world: Any) -> None:
    people, version = world
    batch = send(version, people.dev, batch_csv(300, seed=2))
    evaluation = Evaluation.objects.get(batch=batch)
    ctx = parts.context_of(evaluation)
    state = measure.measure_span(ctx, batch, spans.Span(first_row=0, rows=300))
    numeric = next(n for n, kind in ctx.features.items() if kind in measure.NUMERIC)
    counts = state.features[numeric].to_state()
    with pytest.raises(ValueError, match="not those of this profile"):
        type(state.features[numeric]).from_state(ctx.profiles[numeric], {**counts, "bins": np.zeros(3, np.int64)})


def test_an_evaluation_the_broker_never_took_is_sent_again_by_the_schedule(world: Any) -> None:
    from monitoring import tasks

    people, version = world
    with mock.patch.object(tasks.evaluate, "delay", side_effect=ConnectionError("broker down")):
        batch = send(version, people.dev, batch_csv(400, seed=4))
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.status == "queued"
    with audit_context(actor=system_actor("test beat"), channel="task"):
        assert evaluations_resend() == []  # not yet stale
        assert evaluations_resend(now=timezone.now() + dt.timedelta(minutes=16)) == [evaluation.pk]
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded" and evaluation.rows == 400


@override_settings(MONITORING_PART_ROWS=200)
def test_an_evaluation_whose_parts_are_still_coming_in_is_not_sent_again(world: Any) -> None:
    people, version = world
    with mock.patch.object(evaluate, "part_queued"):  # the parts stay queued: a worker is taking its time
        batch = send(version, people.dev, batch_csv(600, seed=2))
    evaluation = Evaluation.objects.get(batch=batch)
    later = timezone.now() + dt.timedelta(minutes=16)
    with audit_context(actor=system_actor("test worker"), channel="task"):
        made = parts.split(evaluation)
        with mock.patch.object(parts.timezone, "now", return_value=later - dt.timedelta(minutes=5)):
            parts.part_run(part_id=made[0].pk)  # one part in, five minutes before the schedule looks
    with audit_context(actor=system_actor("test beat"), channel="task"), \
            mock.patch.object(evaluate, "part_queued") as sent:
        assert evaluations_resend(now=later) == []
        assert evaluations_resend(now=later + dt.timedelta(minutes=11)) == [evaluation.pk]
    assert sorted(c.kwargs["part_id"] for c in sent.send.call_args_list) == [made[1].pk, made[2].pk]
