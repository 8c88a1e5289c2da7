"""Metric gates read only what a performance report measured, name it, and fail as not measured without one."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from django.utils import timezone

from config.errors import InvalidInput
from governance import gates, policies, services
from governance.models import Policy
from tests.factories import csv_bytes, make_dataset_version
from tests.governance.helpers import People, add_report, version_for

pytestmark = pytest.mark.django_db
RULE = {"evidence": {}, "metrics": {"roc_auc": {">=": 0.7}}, "evidence_max_age_days": 90}


@pytest.fixture
def people(make_user):
    p = People(make_user)
    for user in (p.val, p.risk, p.comp, p.dev, p.aud):
        user.is_staff = True
        user.save()
    return p


def _gate(version, rule=RULE):
    return next(g for g in gates.evaluate(version, rule) if g.name == "metric.roc_auc")


def test_the_gate_reads_the_measured_value_and_names_its_report(people):
    version = version_for(people, metrics={"roc_auc": 0.5})  # a modest claim does not hold back a good model
    report = add_report(version, "performance", "info", measured={"roc_auc": 0.7512})
    gate = _gate(version)
    assert gate.passed
    assert gate.detail == f"roc_auc = 0.7512 measured by performance report #{report.pk} (needs >= 0.7)"


def test_a_declared_value_alone_is_not_measured(people):
    version = version_for(people, metrics={"roc_auc": 0.99})
    add_report(version, "bias", "pass")  # its overall ROC AUC is not the performance evidence either
    gate = _gate(version)
    assert not gate.passed
    assert gate.detail == "roc_auc is not measured: no succeeded performance report for this version"


@pytest.mark.parametrize(("how", "why"), [
    ("other artifact", "was computed on another artifact"),
    ("too old", "is older than 90 days: stale"),
    ("before the version", "predates the version: stale"),
])
def test_stale_or_foreign_performance_reports_do_not_count(people, how, why, monkeypatch):
    version = version_for(people, metrics={"roc_auc": 0.99})
    when = version.created_at - dt.timedelta(seconds=1) if how == "before the version" else None
    report = add_report(version, "performance", "info", measured={"roc_auc": 0.9}, finished_at=when,
                        artifact="f" * 64 if how == "other artifact" else None)
    with monkeypatch.context() as later:
        if how == "too old":  # read 91 days on, beyond the rule's 90
            now = timezone.now() + dt.timedelta(days=91)
            later.setattr(timezone, "now", lambda: now)
        gate = _gate(version)
    assert not gate.passed
    assert gate.detail == f"roc_auc is not measured: performance report #{report.pk} {why}"
    # The latest report decides: a fresh one on this artifact afterwards counts.
    add_report(version, "performance", "info", measured={"roc_auc": 0.9})
    assert _gate(version).passed


def test_a_metric_the_report_could_not_measure_fails_with_its_reason(people):
    version = version_for(people)
    undefined = {"value": None, "ci": [None, None], "note": "undefined: the labels hold one class only"}
    report = add_report(version, "performance", "info", measured={"accuracy": 0.8, "roc_auc": undefined})
    gate = _gate(version)
    assert not gate.passed
    assert gate.detail == (f"roc_auc is not measured by performance report #{report.pk}: undefined: the labels "
                           "hold one class only")


def _strict_policy(people, threshold=0.8):
    policy = Policy.objects.get()
    rules = copy.deepcopy(policy.rules)
    rules["production"]["high"]["metrics"] = {"roc_auc": {">=": threshold}}
    services.policy_update(policy=policy, by=people.gov, rules_=rules)


def test_declared_099_measured_075_the_gate_fails_and_both_are_shown(people, api, client):
    _strict_policy(people)
    version = version_for(people, metrics={"roc_auc": 0.99})
    for kind in ("bias", "explainability", "lineage"):
        add_report(version, kind, "pass" if kind == "bias" else "info")
    report = add_report(version, "performance", "info", measured={"roc_auc": 0.7512})
    request = services.promotion_request_create(version=version, target_stage="production", justification="go",
                                                by=people.dev)
    for user, role in ((people.val, "validator"), (people.risk, "risk_officer"), (people.comp, "compliance_officer")):
        request = services.approval_record(request=request, by=user, role=role, decision="approve")
    assert request.status == "pending"  # every approval given, the measured metric holds it back
    version.refresh_from_db()
    assert version.stage == "none"

    api.force_authenticate(people.val)
    body = api.get(f"/api/v1/promotion-requests/{request.pk}/").json()
    gate = next(g for g in body["gates"] if g["name"] == "metric.roc_auc")
    assert not gate["passed"]
    assert gate["detail"] == f"roc_auc = 0.7512 measured by performance report #{report.pk} (needs >= 0.8)"
    claims = body["metric_claims"]
    assert claims["measured_by_report"] == report.pk and claims["tolerance"] == 0.02
    assert claims["flagged"] == ["roc_auc"]
    assert claims["metrics"][0] == {"metric": "roc_auc", "declared": 0.99, "measured": 0.7512,
                                    "difference": 0.2388, "flagged": True}
    resp = api.get(f"/api/v1/versions/{version.pk}/metrics/")
    assert resp.status_code == 200
    assert resp.json() == {"version": version.pk, **claims}

    client.force_login(people.val)
    page = client.get(f"/admin/governance/promotionrequest/{request.pk}/review/").content.decode()
    table = page[page.index('id="metric-claims"'):]
    table = table[:table.index("</table>")]
    assert "0.99" in table and "0.7512" in table and "0.2388" in table and "FLAGGED" in table
    assert f"Measured by performance report #{report.pk}" in page
    assert "needs &gt;= 0.8" in page


def test_the_tolerance_is_a_setting(people, api, settings):
    version = version_for(people, metrics={"roc_auc": 0.8})
    add_report(version, "performance", "info", measured={"roc_auc": 0.77})
    api.force_authenticate(people.aud)
    assert api.get(f"/api/v1/versions/{version.pk}/metrics/").json()["flagged"] == ["roc_auc"]
    settings.METRIC_CLAIM_TOLERANCE = 0.03  # a difference of exactly the tolerance is not flagged
    body = api.get(f"/api/v1/versions/{version.pk}/metrics/").json()
    assert body["flagged"] == [] and body["tolerance"] == 0.03 and body["metrics"][0]["difference"] == 0.03


def test_version_metrics_without_any_report_and_for_no_version(people, api):
    version = version_for(people, metrics={"roc_auc": 0.9})
    api.force_authenticate(people.aud)
    body = api.get(f"/api/v1/versions/{version.pk}/metrics/").json()
    assert body["measured_by_report"] is None
    assert body["not_measured_reason"] == "no succeeded performance report for this version"
    assert body["metrics"] == [{"metric": "roc_auc", "declared": 0.9, "measured": None, "difference": None,
                                "flagged": False, "note": "not measured"}]
    for missing in (version.pk + 100, 2**70):
        resp = api.get(f"/api/v1/versions/{missing}/metrics/")
        assert resp.status_code == 404 and resp.json()["detail"] == f"no model version #{missing}"
    api.force_authenticate(None)
    assert api.get(f"/api/v1/versions/{version.pk}/metrics/").status_code in (401, 403)


def test_default_rules_ask_for_performance_evidence_wherever_a_metric_gate_is():
    for stage in policies.STAGES:
        for tier in policies.TIERS:
            rule = policies.DEFAULT_RULES[stage][tier]
            assert rule["metrics"] and rule["evidence"]["performance"] == "present", (stage, tier)


@pytest.mark.parametrize("metrics", [{"f1": {">=": 0.5}}, {"roc_auc": {">=": True}}, {"roc_auc": {"=": 0.5}}])
def test_a_metric_gate_no_report_can_measure_is_refused(metrics):
    rules = policies.default_rules()
    rules["staging"]["low"]["metrics"] = metrics
    with pytest.raises(InvalidInput) as exc:
        policies.validate_rules(rules)
    assert "rules.staging.low.metrics" in exc.value.message
    if "f1" in metrics:
        assert "names f1, which the performance report does not measure" in exc.value.message


@pytest.mark.parametrize("where", ["training data", "data not named for evaluation"])
def test_a_performance_report_on_data_not_held_out_is_not_measured(people, where):
    training = make_dataset_version(people.dev, name="train", content=csv_bytes(rows=30))
    version = version_for(people, metrics={"roc_auc": 0.99}, training_datasets=[training],
                          evaluation_datasets=[training] if where == "training data" else [])
    other = make_dataset_version(people.dev, name="elsewhere", content=csv_bytes(rows=40))
    # Rows like these are refused when requested (reports.services); one from before that rule still cannot count.
    report = add_report(version, "performance", "info", measured={"roc_auc": 0.9},
                        evaluated_on=training.sha256 if where == "training data" else other.sha256)
    gate = _gate(version)
    assert not gate.passed
    why = ("the data the version was trained on" if where == "training data"
           else "data not named for evaluation at registration")
    assert gate.detail == f"roc_auc is not measured: performance report #{report.pk} was measured on {why}"


def test_a_number_beyond_2_53_is_read_as_the_double_its_digest_binds():
    """digest_of reads an integer beyond 2**53 as RFC 8785 does, the double it denotes (PostgreSQL's jsonb writes
    1e16 back as such an integer): the gate reads that double too, so an integer changed within the double's
    rounding (2**53 + 1 for 2**53, the same digest) reads as the number the report measured."""
    found = gates.Measured(7, {"big": {"value": 2**53 + 1}})
    result = gates._metric_gate("big", ">", 2**53, found)
    assert not result.passed and f"= {float(2**53)}" in result.detail
