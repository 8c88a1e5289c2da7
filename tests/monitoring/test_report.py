"""The monitoring report from plain data: same bytes for the same data, the twin's numbers, what the PDF states."""

from __future__ import annotations

import copy
import io
from typing import Any

import pytest
from pypdf import PdfReader

from audit.format.jcs import digest_of
from monitoring.report import build_monitoring_report

PLAN: dict[str, Any] = {
    "metrics": {"feature_psi": {"amber": 0.1, "red": 0.25}, "score_psi": {"amber": 0.1, "red": 0.25},
                "roc_auc_drop": {"amber": 0.03, "red": 0.05}, "selection_rate_shift": {"amber": 0.05, "red": 0.1},
                "impact_ratio": {"amber": 0.85, "red": 0.8}},
    "min_batch_rows": 500, "window_days": 30, "cadence_days": 7, "max_silence_days": 92, "on_red": "revalidate"}
DIRECTIONS = {"feature_psi": "above", "score_psi": "above", "roc_auc_drop": "above", "selection_rate_shift": "above",
              "impact_ratio": "below", "feature_ks": "above", "feature_js": "above"}
ORDER = {"red": 0, "amber": 1, "green": 2}


def _colour(metric: str, value: float, bounds: dict[str, float]) -> str:
    if DIRECTIONS[metric] == "above":
        return "red" if value >= bounds["red"] else "amber" if value >= bounds["amber"] else "green"
    return "red" if value <= bounds["red"] else "amber" if value <= bounds["amber"] else "green"


def _evaluation(pk: int, day: int, psi_age: float, psi_amount: float, ratio: float, *, rows: int = 800,
                labelled: int = 0, auc_drop: float | None = None, judged: bool = True) -> dict[str, Any]:
    measurements: list[dict[str, Any]] = [
        {"metric": "feature_psi", "subject": "age", "value": psi_age, "baseline": None},
        {"metric": "feature_ks", "subject": "age", "value": psi_age / 2, "baseline": None},
        {"metric": "feature_psi", "subject": "credit_amount", "value": psi_amount, "baseline": None},
        {"metric": "feature_ks", "subject": "credit_amount", "value": 0.04, "baseline": None},
        {"metric": "feature_psi", "subject": "purpose", "value": 0.02, "baseline": None},
        {"metric": "feature_js", "subject": "purpose", "value": 0.031, "baseline": None},
        {"metric": "score_psi", "subject": "score", "value": psi_age / 3, "baseline": None},
        {"metric": "roc_auc_drop", "subject": "model", "value": auc_drop, "baseline": 0.78},
        {"metric": "selection_rate_shift", "subject": "sex=female", "value": 0.01, "baseline": 0.62},
        {"metric": "impact_ratio", "subject": "sex", "value": ratio, "baseline": None},
    ]
    findings = sorted(({**m, "colour": _colour(m["metric"], m["value"], PLAN["metrics"][m["metric"]]),
                        **PLAN["metrics"][m["metric"]]} for m in measurements
                       if m["metric"] in PLAN["metrics"] and m["value"] is not None),
                      key=lambda f: (ORDER[f["colour"]], f["metric"], f["subject"]))
    colour = min((f["colour"] for f in findings), key=ORDER.__getitem__) if judged else ""
    return {"id": pk, "batch": {"id": 100 + pk, "number": pk - 10, "sha256": f"{pk:02d}" * 32,
                                "merkle_root": f"{pk + 50:02d}" * 32},
            "window_start": None, "window_end": None, "created_at": f"2026-03-{day:02d}T09:30:00+00:00",
            "status": "succeeded", "error": "", "colour": colour, "rows": rows, "labelled_rows": labelled,
            "results_sha256": "ab" * 32, "measurements": measurements, "findings": findings}


def _data(evaluations: bool = True) -> dict[str, Any]:
    found = [
        _evaluation(11, 2, 0.03, 0.05, 0.93),
        _evaluation(12, 5, 0.3, 0.05, 0.91, rows=120, judged=False),
        {"id": 13, "batch": None, "window_start": "2026-02-07T00:00:00+00:00",
         "window_end": "2026-03-09T00:00:00+00:00", "created_at": "2026-03-09T09:30:00+00:00", "status": "failed",
         "error": "a batch's file could not be read", "colour": "", "rows": 0, "labelled_rows": 0,
         "results_sha256": "", "measurements": [], "findings": []},
        _evaluation(14, 12, 0.2499996, 0.07, 0.86),
        _evaluation(15, 19, 0.41, 0.12, 0.80000000004, labelled=640, auc_drop=0.061),
    ]
    breaches = [
        {"id": 2, "evaluation": 14, "colour": "amber", "consequence": "notified", "request": None, "hold": None,
         "notified": ["owner@bank.example", "validator@bank.example"], "created_at": "2026-03-12T09:31:00+00:00",
         "findings": [f for f in found[3]["findings"] if f["colour"] != "green"]},
        {"id": 3, "evaluation": 15, "colour": "red", "consequence": "revalidation", "request": 7, "hold": None,
         "notified": ["owner@bank.example"], "created_at": "2026-03-19T09:31:00+00:00",
         "findings": [f for f in found[4]["findings"] if f["colour"] != "green"]},
    ]
    return {
        "subject": {"model_name": "credit-risk", "model_title": "Retail credit scoring", "version": 2,
                    "stage": "production", "risk_tier": "high", "eu_ai_act_category": "high-risk",
                    "owner": "owner", "intended_use": "Scoring retail credit applications."},
        "report_id": 42, "generated_at": "2026-03-20T08:00:00+00:00",
        "window": {"start": "2026-02-20T00:00:00+00:00", "end": "2026-03-20T00:00:00+00:00"},
        "plan": PLAN, "directions": DIRECTIONS,
        "baseline": {"request_id": 5, "reports": {"performance": {"id": 31, "json_sha256": "c1" * 32},
                                                  "bias": {"id": 30, "json_sha256": "b2" * 32}},
                     "evaluation_dataset": {"id": 9, "sha256": "d3" * 32, "name": "german-credit-eval v1"}},
        "evaluations": found if evaluations else [], "breaches": breaches if evaluations else [],
        "audit_head": {"seq": 812, "hash": "e4" * 32}, "checkpoint": None,
        "software": {"python": "3.11.7", "numpy": "2.1.0", "reportlab": "4.2.2", "matplotlib": "3.9.2"},
    }


def _text(pdf: bytes) -> str:
    """The PDF's text with every run of white space (a line wrapped in a table cell) read as one space."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


@pytest.fixture(scope="module")
def rendered() -> tuple[dict[str, Any], bytes]:
    return build_monitoring_report(_data())


def test_same_data_gives_the_same_bytes(rendered: tuple[dict[str, Any], bytes]) -> None:
    data = _data()
    before = copy.deepcopy(data)
    twin, pdf = build_monitoring_report(data)
    assert data == before  # the caller's data is not changed
    assert (twin, pdf) == rendered
    assert pdf.startswith(b"%PDF")


def test_twin_holds_the_plan_evaluations_breaches_and_series(rendered: tuple[dict[str, Any], bytes]) -> None:
    twin, _ = rendered
    assert twin["kind"] == "monitoring"
    assert set(twin) == {"kind", "report_id", "generated_at", "subject", "window", "plan", "directions", "baseline",
                         "evaluations", "breaches", "series", "drift", "audit_head", "checkpoint", "software"}
    assert twin["plan"] == PLAN
    assert twin["baseline"]["reports"]["bias"]["json_sha256"] == "b2" * 32
    assert [e["colour"] for e in twin["evaluations"]] == ["green", "", "", "amber", "red"]
    assert twin["evaluations"][2]["status"] == "failed"
    psi = twin["series"]["feature_psi"]
    # Failed evaluations have no point; the not-judged one has its value and no colour.
    assert [(p["evaluation"], p["subject"], p["value"], p["colour"]) for p in psi] == [
        (11, "credit_amount", 0.05, "green"), (12, "age", 0.3, ""), (14, "age", 0.249999, "amber"),
        (15, "age", 0.41, "red")]
    assert [(p["evaluation"], p["value"], p["colour"]) for p in twin["series"]["roc_auc_drop"]] == [(15, 0.061, "red")]
    # Lower is worse for the impact ratio: rounded up, so 0.80000000004 (amber: above the red bound) stays amber.
    ratio = twin["series"]["impact_ratio"]
    assert (ratio[-1]["value"], ratio[-1]["colour"]) == (0.800001, "amber")
    red = twin["breaches"][1]
    assert (red["consequence"], red["request"], red["colour"]) == ("revalidation", 7, "red")
    assert [f["metric"] for f in red["findings"]][:2] == ["feature_psi", "roc_auc_drop"]
    assert twin["drift"]["evaluation"] == 15
    assert {f["feature"]: (f["psi"], f["ks"], f["js"], f["colour"]) for f in twin["drift"]["features"]} == {
        "age": (0.41, 0.205, None, "red"), "credit_amount": (0.12, 0.04, None, "amber"),
        "purpose": (0.02, None, 0.031, "green")}


def test_pdf_states_thresholds_breaches_consequences_and_digests(rendered: tuple[dict[str, Any], bytes]) -> None:
    twin, pdf = rendered
    body = _text(pdf)
    flat = body.replace(" ", "")
    for expected in ("Monitoring report #42", "≥ 0.1", "≥ 0.25", "≤ 0.85", "≤ 0.8", "≥ 0.03", "≥ 0.05",
                     "500 rows", "every 7 days", "92 days", "revalidate: opens a re-validation request",
                     "Breach #2: AMBER at evaluation #14", "Breach #3: RED at evaluation #15",
                     "opened re-validation request #7", "validator@bank.example", "promotion request #5",
                     "FAILED: a batch's file could not be read",
                     "window 2026-02-07 00:00 UTC to 2026-03-09 00:00 UTC", "not judged (too few rows)",
                     "Regulatory mapping", "Art. 72", "Art. 12", "MANAGE 4.1"):
        assert expected in body, expected
    for digest in ("d3" * 32, "c1" * 32, "b2" * 32, "e4" * 32, digest_of(twin)):
        assert digest in flat, digest
    # 0.2499996 is amber: printed 0.249, never rounded to 0.250, which would read as red.
    assert "feature_psi of age = 0.249" in body and "0.250" not in body


def test_a_report_with_no_evaluations_says_so() -> None:
    twin, pdf = build_monitoring_report(_data(evaluations=False))
    assert twin["evaluations"] == [] and twin["series"]["feature_psi"] == [] and twin["drift"]["evaluation"] is None
    body = _text(pdf)
    assert "No evaluations in this window" in body
    assert "No breach" in body
    assert "No evaluation has measured the features yet" in body


def test_a_hold_names_itself() -> None:
    data = _data()
    data["plan"] = {**PLAN, "on_red": "hold"}
    data["breaches"][1] = {**data["breaches"][1], "consequence": "hold", "request": None, "hold": 4}
    twin, pdf = build_monitoring_report(data)
    assert twin["breaches"][1]["hold"] == 4
    body = _text(pdf)
    assert "placed hold #4: no new promotion of the model" in body
    assert "hold: blocks new promotions of the model" in body


def test_a_metric_nothing_measured_says_it_has_no_value_yet() -> None:
    data = _data()
    data["plan"] = {**PLAN, "metrics": {**PLAN["metrics"], "tpr_shift": {"amber": 0.05, "red": 0.1}}}
    data["directions"] = {**DIRECTIONS, "tpr_shift": "above"}
    twin, pdf = build_monitoring_report(data)
    assert twin["series"]["tpr_shift"] == []
    assert "tpr_shift (largest move of a group's true positive rate from the validated one): no value yet" in _text(pdf)
