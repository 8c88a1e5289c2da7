"""What an evaluation finds and what its colour triggers: green nothing, amber the owner and validators told, red a
re-validation request naming the breach or a hold a validator must review; outcomes measured when they arrive; the
plan's schedule."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.core import mail
from scipy import stats

from audit.context import audit_context, system_actor, user_actor
from config.errors import Conflict, PermissionDenied
from governance import holds, plans, services
from governance.models import Policy, PromotionHold, PromotionRequest
from monitoring.batches import outcomes_attach
from monitoring.models import Breach, Evaluation
from monitoring.services import evaluations_due
from tests.factories import skops_bytes
from tests.monitoring.helpers import batch_csv, committed, frame, monitored, outcomes_csv, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user: Any) -> tuple[Any, Any]:
    return monitored(make_user)


def _set_plan(people: Any, **changes: Any) -> None:
    policy = Policy.objects.get(is_active=True)
    rules = policy.rules
    for stage in rules.values():
        for rule in stage.values():
            rule["monitoring"] = {**plans.plan_of(rule), **changes}
    with audit_context(actor=user_actor(people.gov), channel="system"):
        services.policy_update(policy=policy, by=people.gov, rules_=rules)


def test_a_drifted_batch_is_red_and_opens_a_revalidation_request_naming_the_breach(world: Any) -> None:
    people, version = world
    mail.outbox.clear()
    batch = send(version, people.dev, batch_csv(1500, seed=11, shift=1.5))
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.colour == "red", evaluation.results.get("findings")
    worst = evaluation.results["findings"][0]
    assert worst["colour"] == "red" and worst["metric"] in ("feature_psi", "score_psi")
    breach = Breach.objects.get(evaluation=evaluation)
    assert breach.consequence == "revalidation"
    assert breach.request_id is not None
    request = PromotionRequest.objects.get(pk=breach.request_id)
    assert request.is_revalidation and request.status == "pending" and request.target_stage == "production"
    assert f"evaluation #{evaluation.pk}" in request.trigger and "red" in request.justification
    # The owner and every validator are told.
    told = {address for m in mail.outbox for address in m.to}
    assert {people.dev.email, people.val.email, people.val2.email} <= told
    # A second red batch adds to the same pending request rather than opening another.
    second = send(version, people.dev, batch_csv(1500, seed=12, shift=1.6, start=10_000))
    assert Breach.objects.get(evaluation__batch=second).request_id == request.pk


def test_the_ks_of_a_feature_is_scipys(world: Any) -> None:
    people, version = world
    batch = send(version, people.dev, batch_csv(900, seed=13, shift=0.3))
    result = Evaluation.objects.get(batch=batch).results["features"]["amount"]
    expected = stats.ks_2samp(frame(4000, seed=1)["amount"], frame(900, seed=13, shift=0.3)["amount"],
                              method="asymp")
    assert result["ks"] == pytest.approx(expected.statistic, abs=1e-12)
    assert result["ks_pvalue"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-12)


def test_amber_tells_the_owner_and_validators_and_triggers_nothing_else(world: Any) -> None:
    people, version = world
    _set_plan(people, metrics={"feature_psi": {"amber": 0.0, "red": 5.0}})
    mail.outbox.clear()
    batch = send(version, people.dev, batch_csv(800, seed=14))
    breach = Breach.objects.get(evaluation__batch=batch)
    assert breach.colour == "amber" and breach.consequence == "notified" and breach.request_id is None
    assert people.dev.email in breach.notified and mail.outbox
    assert not PromotionRequest.objects.filter(is_revalidation=True).exists()


def test_red_under_a_hold_plan_blocks_promotions_until_a_validator_reviews_it(world: Any) -> None:
    people, version = world
    _set_plan(people, on_red="hold")
    send(version, people.dev, batch_csv(1500, seed=15, shift=1.5))
    hold = PromotionHold.objects.get(model=version.model, released_at__isnull=True)
    from tests.factories import make_version

    newer = make_version(version.model, people.dev, seed=3)
    with audit_context(actor=user_actor(people.dev), channel="system"), pytest.raises(Conflict, match="on hold"):
        services.promotion_request_create(version=newer, target_stage="staging", justification="x", by=people.dev)
    with pytest.raises(PermissionDenied):  # a developer of the model never reviews its breach
        holds.hold_release(hold=hold, by=people.dev, review="fine")
    with audit_context(actor=user_actor(people.val), channel="system"):
        holds.hold_release(hold=hold, by=people.val, review="the shift is a new product; re-validated offline")
    with audit_context(actor=user_actor(people.dev), channel="system"):
        services.promotion_request_create(version=newer, target_stage="staging", justification="x", by=people.dev)


def test_outcomes_arriving_later_are_measured_against_the_validated_performance(world: Any) -> None:
    people, version = world
    batch = send(version, people.dev, batch_csv(1000, seed=16))
    with audit_context(actor=user_actor(people.dev), channel="system"), committed():
        outcomes_attach(batch=batch, by=people.dev, file=io.BytesIO(outcomes_csv(1000, seed=16, label=("no", "yes"))),
                        positive_label="yes")
    latest = Evaluation.objects.filter(batch=batch).order_by("-id").first()
    assert latest is not None and latest.labelled_rows == 1000
    perf = latest.results["performance"]
    data = frame(1000, seed=16)
    from sklearn.metrics import roc_auc_score

    assert perf["roc_auc"] == pytest.approx(roc_auc_score(data["risk"], data["score"]), abs=1e-6)
    drops = {m["metric"] for m in latest.results["measurements"]}
    assert {"roc_auc_drop", "accuracy_drop"} <= drops


def test_outcomes_for_rows_not_in_the_batch_are_refused(world: Any) -> None:
    people, version = world
    batch = send(version, people.dev, batch_csv(600, seed=17))
    from config.errors import InvalidInput

    with audit_context(actor=user_actor(people.dev), channel="system"), pytest.raises(InvalidInput, match="not rows"):
        outcomes_attach(batch=batch, by=people.dev, file=io.BytesIO(outcomes_csv(5, seed=1, start=5000)))


def test_a_batch_under_the_plans_minimum_is_measured_not_judged(world: Any) -> None:
    people, version = world
    batch = send(version, people.dev, batch_csv(100, seed=18, shift=2.0))
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.status == "succeeded" and evaluation.colour == "" and "fewer than" in evaluation.results["note"]
    assert not Breach.objects.exists()


def test_the_schedule_measures_windows_and_flags_silence(world: Any) -> None:
    people, version = world
    send(version, people.dev, batch_csv(700, seed=19))
    with audit_context(actor=system_actor("test beat"), channel="task"), committed():
        queued = evaluations_due()
    assert [e.batch_id for e in queued] == [None]
    assert Evaluation.objects.get(pk=queued[0].pk).rows == 700
    with audit_context(actor=system_actor("test beat"), channel="task"), committed():
        assert evaluations_due() == []  # within the cadence: nothing more
        later = evaluations_due(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=200))
    silent = Evaluation.objects.get(pk=later[0].pk)
    assert silent.colour == "amber" and silent.results["silence"][0]["metric"] == "days_without_batches"


def test_a_window_labels_each_row_with_its_own_batchs_outcomes(world: Any) -> None:
    # Ids are unique within a batch, not across batches: the outcomes of batch 1's row r5 labelled batch 2's r5 too,
    # so a window's performance was measured on labels no one sent for those rows.
    people, version = world
    first = send(version, people.dev, batch_csv(600, seed=3))
    send(version, people.dev, batch_csv(600, seed=4))
    with audit_context(actor=user_actor(people.dev), channel="system"), committed():
        outcomes_attach(batch=first, by=people.dev, file=io.BytesIO(outcomes_csv(600, seed=3)))
    with audit_context(actor=system_actor("test beat"), channel="task"), committed():
        window, = evaluations_due()
    window.refresh_from_db()
    assert window.status == "succeeded" and window.rows == 1200 and window.labelled_rows == 600

def test_a_batch_without_a_sensitive_column_is_refused_and_fairness_is_measured(make_user: Any) -> None:
    # A sensitive column that is not a feature was optional: a developer leaving it out switched fairness
    # monitoring off (and, alternating batches with and without it, made every window fail). It is required.
    from config.errors import InvalidInput

    people, version = monitored(make_user, content=skops_bytes(features=("age", "amount")))
    assert version.artifact_check["feature_names"] == ["age", "amount"]  # sex is sensitive, not a feature
    without = pd.read_csv(io.BytesIO(batch_csv(600, seed=5, start=5000))).drop(columns=["sex"])
    with pytest.raises(InvalidInput, match="missing sex"):
        send(version, people.dev, without.to_csv(index=False).encode())
    batch = send(version, people.dev, batch_csv(600, seed=3))
    assert "sex" in Evaluation.objects.get(batch=batch).results["fairness"]


def test_blanking_a_drifted_feature_does_not_hide_the_drift(world: Any) -> None:
    people, version = world
    blanked = pd.read_csv(io.BytesIO(batch_csv(1500, seed=6))).assign(amount=np.nan)
    batch = send(version, people.dev, blanked.to_csv(index=False).encode())
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.colour == "red"
    worst = evaluation.results["findings"][0]
    assert (worst["metric"], worst["subject"], worst["value"]) == ("feature_missing_shift", "amount", 1.0)


def test_an_infinite_feature_is_refused(world: Any) -> None:
    from config.errors import InvalidInput

    people, version = world
    bad = pd.read_csv(io.BytesIO(batch_csv(600, seed=7))).astype({"amount": object})
    bad.loc[3, "amount"] = "inf"
    with pytest.raises(InvalidInput, match="'amount' must hold finite numbers; row 4"):
        send(version, people.dev, bad.to_csv(index=False).encode())


def test_a_plan_is_checked_when_a_policy_is_written(world: Any) -> None:
    from config.errors import InvalidInput

    with pytest.raises(InvalidInput, match="red must be at or below amber"):
        plans.validate_plan({"metrics": {"impact_ratio": {"amber": 0.8, "red": 0.85}}}, "p")
    with pytest.raises(InvalidInput, match="does not measure"):
        plans.validate_plan({"metrics": {"vibes": {"amber": 1, "red": 2}}}, "p")
    assert plans.default_plan({"demographic_parity_difference": 0.1, "impact_ratio": 0.8})["metrics"][
        "impact_ratio"] == {"amber": 0.85, "red": 0.8}



@pytest.mark.parametrize(("metric", "bounds"), [
    ("selection_rate_shift", {"amber": -1.0, "red": -0.5}),  # every batch amber, whatever it holds
    ("feature_psi", {"amber": 0.1, "red": 1e9}),  # never red
    ("impact_ratio", {"amber": 5.0, "red": 4.0}),  # every batch red
    ("roc_auc_drop", {"amber": 0.03, "red": 3.0}),
])
def test_a_plan_with_thresholds_no_measurement_can_reach_is_refused(world: Any, api: Any, metric: str,
                                                                   bounds: dict[str, float]) -> None:
    # docs/monitoring.md promised "bounds out of range: 400"; any finite number was taken.
    people, _ = world
    policy = Policy.objects.get(is_active=True)
    rules = policy.rules
    rules["production"]["high"]["monitoring"] = {**plans.plan_of(rules["production"]["high"]),
                                                 "metrics": {metric: bounds}}
    api.force_authenticate(people.gov)
    answer = api.patch(f"/api/v1/policies/{policy.pk}/", {"rules": rules}, format="json")
    assert answer.status_code == 400 and f"monitoring.metrics.{metric}" in answer.json()["detail"], answer.content
    assert Policy.objects.get(pk=policy.pk).version == policy.version


def test_the_monitoring_report_states_the_breach_and_is_the_same_bytes_made_again(world: Any, api: Any) -> None:
    from monitoring.models import MonitoringReport
    from monitoring.reporting import monitoring_report_compute

    people, version = world
    send(version, people.dev, batch_csv(3000, seed=21))
    send(version, people.dev, batch_csv(1500, seed=22, shift=1.5, start=10_000))
    api.force_authenticate(people.val)
    with committed():
        made = api.post(f"/api/v1/versions/{version.pk}/monitoring-reports/", {}, format="json")
    assert made.status_code == 201, made.content
    report = MonitoringReport.objects.get(pk=made.json()["id"])
    assert report.status == "succeeded", report.error
    twin = api.get(f"/api/v1/monitoring-reports/{report.pk}/json/")
    assert twin.status_code == 200
    import json

    body = json.loads(b"".join(twin.streaming_content))
    assert body["kind"] == "monitoring" and [e["colour"] for e in body["evaluations"]] == ["green", "red"]
    assert body["breaches"][0]["consequence"] == "revalidation"
    pdf = b"".join(api.get(f"/api/v1/monitoring-reports/{report.pk}/pdf/").streaming_content)
    # Made again from the same rows (a retry), the same bytes.
    from monitoring.report import build_monitoring_report
    from monitoring.reporting import report_data

    assert build_monitoring_report(report_data(report))[1] == pdf
    assert monitoring_report_compute(report_id=report.pk).status == "succeeded"
    bad = api.post(f"/api/v1/versions/{version.pk}/monitoring-reports/",
                   {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, format="json")
    assert bad.status_code == 400


def test_a_monitoring_report_of_a_version_with_no_baseline_or_no_batch_is_made(make_user: Any) -> None:
    from monitoring.models import MonitoringReport
    from monitoring.reporting import monitoring_report_request
    from tests.governance.helpers import People, version_for

    people = People(make_user)
    version = version_for(people)
    with audit_context(actor=user_actor(people.val), channel="system"), committed():
        made = monitoring_report_request(version=version, by=people.val)
    report = MonitoringReport.objects.get(pk=made.pk)
    assert report.status == "succeeded", report.error
