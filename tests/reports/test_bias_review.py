"""The bias report's review defects stay fixed: no pass without a check, undefined rates are undefined,
rounding never turns a fail into a pass, chart lines agree with the checks, real categories are groups."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import matplotlib.axes
import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from reports import bootstrap, charts
from reports.bias import BiasThresholds, compute_bias, normalise_groups
from reports.pdf.bias import render_bias
from reports.pdf.document import CoverInfo


def _bias(y_true: Any, y_pred: Any, sensitive: pd.DataFrame, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"thresholds": BiasThresholds(), "seed": 1, "n_boot": 0}
    args.update(kw)
    return compute_bias(y_true=np.asarray(y_true), y_pred=np.asarray(y_pred), sensitive=sensitive, **args)


def _section(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in report["attributes"] + report["intersections"] if a["attribute"] == name)


def _pdf_text(metrics: dict[str, Any]) -> str:
    info = CoverInfo(model_name="m", model_title="M", version=1, stage="none", risk_tier="high",
                     eu_ai_act_category="high-risk", owner="o", intended_use="u", report_kind="bias", report_id=1,
                     generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), input_digests={}, metrics_sha256="0" * 64,
                     software={}, audit_head={"seq": 0, "hash": ""})
    pdf = render_bias(info, metrics, {}, [])
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(text.split())


def _balanced(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Labels half positive, predictions selecting half of each class: every rate 0.5."""
    y = np.tile([1, 1, 0, 0], n // 4)
    pred = np.tile([1, 0, 1, 0], n // 4)
    return y, pred


# 1. No check made is not a pass.

def test_an_attribute_with_one_group_fails_the_verdict_and_says_why() -> None:
    y, pred = _balanced()
    sens = pd.DataFrame({"sex": ["male"] * 400, "region": ["north"] * 200 + ["south"] * 200})
    report = _bias(y, pred, sens)
    assert report["failed_checks"] == 0
    assert report["verdict"] == "fail"
    sex = _section(report, "sex")
    assert not sex["conclusive"] and not sex["checks"]
    assert "1 group with a known value (male: 400 rows)" in sex["no_check_reason"]
    assert any(r.startswith("no check could be made for sex:") for r in report["verdict_reasons"])
    text = _pdf_text(report)
    assert "Verdict: FAIL" in text and "no check could be made for sex: 1 group with a known value" in text


def test_every_group_below_the_minimum_size_fails_the_verdict() -> None:
    y, pred = _balanced(100)
    sens = pd.DataFrame({"race": ["a", "b", "c", "d"] * 25})
    report = _bias(y, pred, sens, min_group_size=30)
    assert report["verdict"] == "fail" and not report["checks"]
    reason = _section(report, "race")["no_check_reason"]
    assert "fewer than two groups have the minimum of 30 rows" in reason and "a: 25 rows" in reason


def test_checked_attributes_still_pass() -> None:
    y, pred = _balanced()
    report = _bias(y, pred, pd.DataFrame({"region": ["north"] * 200 + ["south"] * 200}))
    assert report["verdict"] == "pass" and report["verdict_reasons"] == []


# 2. Undefined rates are undefined.

def _no_positives_in_b() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Group A: every rate 0.5. Group B: no positive labels, half selected (selection rate and FPR 0.5)."""
    ya, pa = _balanced(200)
    yb, pb = np.zeros(200, dtype=int), np.tile([1, 0], 100)
    sens = pd.DataFrame({"group": ["A"] * 200 + ["B"] * 200})
    return np.concatenate([ya, yb]), np.concatenate([pa, pb]), sens


def test_a_group_without_positives_has_no_tpr_and_no_spurious_fail() -> None:
    y, pred, sens = _no_positives_in_b()
    report = _bias(y, pred, sens, n_boot=20)
    section = _section(report, "group")
    b = next(g for g in section["groups"] if g["group"] == "B")
    assert b["tpr"] == {"value": None, "ci": [None, None], "note": "undefined: no actual positives (TP + FN = 0)"}
    assert b["fpr"]["value"] == 0.5
    assert "equal_opportunity_difference" not in {c["metric"] for c in report["checks"]}
    assert {"metric": "equal_opportunity_difference", "attribute": "group",
            "reason": "fewer than two groups large enough to count have a defined TPR"} in report["not_checked"]
    assert any(n.startswith("B: TPR undefined") for n in section["notes"])
    assert section["disparities"]["equalized_odds_difference"] == 0.0  # FPR alone: A and B equal
    assert report["verdict"] == "pass"
    text = _pdf_text(report)
    assert "Group B, TPR: undefined: no actual positives" in text
    assert "Not checked: group, equal opportunity difference" in text


@pytest.mark.parametrize("label, undefined, defined", [(0, "tpr", "fpr"), (1, "fpr", "tpr")])
def test_a_one_class_dataset_reports_undefined_rates_and_auc(label: int, undefined: str, defined: str) -> None:
    y = np.full(400, label)
    pred = np.tile([1, 0], 200)
    report = _bias(y, pred, pd.DataFrame({"g": ["a"] * 200 + ["b"] * 200}), y_score=np.linspace(0, 1, 400), n_boot=10)
    for g in _section(report, "g")["groups"]:
        assert g[undefined]["value"] is None and g[undefined]["note"].startswith("undefined")
        assert g[defined]["value"] == 0.5
    auc = report["overall"]["roc_auc"]
    assert auc == {"value": None, "ci": [None, None], "note": "undefined: the labels hold one class only"}
    # Recall needs positives; precision needs positive predictions only (here 0 without positives, 1 with only them).
    assert report["overall"]["recall"]["value"] == (None if label == 0 else 0.5)
    assert report["overall"]["precision"]["value"] == float(label)
    assert report["overall"]["accuracy"]["value"] == 0.5


def test_an_auc_interval_with_few_positives_is_computed_and_says_from_how_many_resamples() -> None:
    y = np.zeros(200, dtype=int)
    y[:2] = 1
    score = np.linspace(0, 1, 200)[::-1]
    report = _bias(y, np.tile([1, 0], 100), pd.DataFrame({"g": ["a"] * 100 + ["b"] * 100}), y_score=score, n_boot=50)
    auc = report["overall"]["roc_auc"]
    assert auc["value"] == 1.0
    assert auc["ci"][0] is not None and auc["ci"][1] is not None
    assert "of 50 resamples in which it is defined" in auc["note"]


def test_bootstrap_leaves_undefined_rates_out_and_counts_them() -> None:
    y = np.array([0] * 10 + [1, 0] * 5)
    pred = np.array([1, 0] * 10)
    groups = pd.Series(["B"] * 10 + ["A"] * 10)
    (lo, hi), defined = bootstrap.group_bootstrap(y_true=y, y_pred=pred, groups=groups, n_boot=30, seed=0,
                                                  quantiles=[0.025, 0.975])
    assert np.isnan(lo.loc["B", "tpr"]) and np.isnan(hi.loc["B", "tpr"]) and defined.loc["B", "tpr"] == 0
    assert defined.loc["A", "tpr"] <= 30 and defined.loc["B", "fpr"] == 30


# 3. Rounding never makes a fail look like a pass.

def test_a_failing_impact_ratio_is_written_and_printed_as_failing() -> None:
    # A selects every row, B 3998 of 5000: impact ratio 0.7996, which 3 decimals round to 0.800.
    pred = np.concatenate([np.ones(5000, dtype=int), np.ones(3998, dtype=int), np.zeros(1002, dtype=int)])
    y = np.tile([1, 0], 5000)
    report = _bias(y, pred, pd.DataFrame({"g": ["A"] * 5000 + ["B"] * 5000}))
    check = next(c for c in report["checks"] if c["metric"] == "impact_ratio" and c["group"] == "B")
    assert check["status"] == "FAIL" and check["value"] < check["threshold"]
    assert "B 0.800 >= 0.8 FAIL" not in _pdf_text(report)
    assert "B 0.799 >= 0.8 FAIL" in _pdf_text(report)


@pytest.mark.parametrize("ratio_b", [0.79999996, 0.8000004, 0.7999994])
def test_json_status_agrees_with_the_written_value(ratio_b: float) -> None:
    # Values this close to a threshold need millions of rows to arise from counts; the check is asked directly.
    from reports.bias import _check

    check = _check("impact_ratio", "g", ratio_b, 0.8, group="B")
    assert (check["status"] == "PASS") == (check["value"] >= check["threshold"]) == (ratio_b >= 0.8)
    check = _check("demographic_parity_difference", "g", 0.1 + (ratio_b - 0.8), 0.1)
    assert (check["status"] == "PASS") == (check["value"] <= check["threshold"])


# 4. Chart threshold lines agree with the checks.

def test_chart_lines_on_every_panel_from_the_groups_that_count(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[tuple[Any, float]] = []
    original = matplotlib.axes.Axes.axvline

    def record(self: Any, x: float = 0, *args: Any, **kwargs: Any) -> Any:
        drawn.append((self, float(x)))
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "axvline", record)
    y, pred = _balanced(400)
    # A tiny group selected always: too small to count, so it must not set the four-fifths line.
    y, pred = np.concatenate([y, [1, 0, 1, 0, 1]]), np.concatenate([pred, [1, 1, 1, 1, 1]])
    sens = pd.DataFrame({"g": ["a"] * 200 + ["b"] * 200 + ["tiny"] * 5})
    report = _bias(y, pred, sens)
    assert _section(report, "g")["small_groups"] == ["tiny"]
    charts.group_rates(_section(report, "g"), report["thresholds"])
    lines = {ax.get_title(): x for ax, x in drawn}  # titles are set after the lines
    assert set(lines) == {"Selection rate", "True positive rate", "False positive rate"}
    assert lines["Selection rate"] == pytest.approx(0.8 * 0.5)
    assert lines["True positive rate"] == pytest.approx(0.5 - 0.1)
    assert lines["False positive rate"] == pytest.approx(0.5 + 0.1)


def test_chart_draws_an_undefined_rate_as_na_and_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[tuple[Any, str]] = []
    bars: list[tuple[Any, int]] = []
    text, barh = matplotlib.axes.Axes.text, matplotlib.axes.Axes.barh

    def record_text(self: Any, x: float, y: float, s: str, *args: Any, **kwargs: Any) -> Any:
        written.append((self, s))
        return text(self, x, y, s, *args, **kwargs)

    def record_barh(self: Any, y: Any, width: Any, *args: Any, **kwargs: Any) -> Any:
        bars.append((self, len(np.atleast_1d(width))))
        return barh(self, y, width, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "text", record_text)
    monkeypatch.setattr(matplotlib.axes.Axes, "barh", record_barh)
    y, pred, sens = _no_positives_in_b()
    report = _bias(y, pred, sens, n_boot=10)
    charts.group_rates(_section(report, "group"), report["thresholds"])
    assert [(ax.get_title(), s) for ax, s in written] == [("True positive rate", "n/a (undefined)")]
    assert {ax.get_title(): n for ax, n in bars} == {"Selection rate": 2, "True positive rate": 1,
                                                    "False positive rate": 2}


# 5. Only missing values are unknown.

def test_real_categories_named_like_missing_values_stay_groups() -> None:
    values = pd.Series(["none", "NA", "?", "n/a", None, np.nan, "", "  ", "unknown", "christian"])
    groups = normalise_groups(values).tolist()
    assert groups[:4] == ["none", "NA", "?", "n/a"]
    assert groups[4:9] == ["unknown"] * 5
    assert groups[9] == "christian"


def test_only_a_column_named_for_age_is_bucketed_as_ages() -> None:
    from types import SimpleNamespace

    from reports.loading import sensitive_frame

    frame = pd.DataFrame({"usage": [1, 2, 3, 1] * 10, "applicant_age": list(range(20, 60)), "Age": [30, 18] * 20,
                          "stage": [0, 1] * 20})
    dataset: Any = SimpleNamespace(sensitive_columns=["usage", "applicant_age", "Age", "stage"])
    out = sensitive_frame(frame, dataset)
    assert list(out.columns) == ["usage", "applicant_age group", "Age group", "stage"]
    assert set(out["usage"]) == {"1", "2", "3"}
