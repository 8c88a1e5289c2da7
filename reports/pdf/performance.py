"""The performance report PDF (docs/reports.md, 'Performance report'): what the product measured, and the claim."""

from __future__ import annotations

from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph

from reports.numbers import num_toward
from reports.pdf.document import H2, CoverInfo, build, closing, cover, image, para, table
from reports.performance import LOWER_IS_BETTER, NAMES

MAPPING = [
    ["Scope and data, Method", "SR 11-7 outcomes analysis; EU AI Act Annex IV 2(g) (validation and testing "
                               "procedures, data used, metrics)"],
    ["Measured metrics, Calibration", "EU AI Act Art. 15(1)-(3) and Annex IV 3 (levels of accuracy and the "
                                      "metrics used); NIST AI RMF MEASURE 2.3 and 2.5"],
    ["Declared and measured", "SR 11-7 effective challenge (independent verification of the developer's "
                              "claims); EU AI Act Art. 11 (accurate technical documentation)"],
    ["Verdict for the gate", "SR 11-7 validation before use; EU AI Act Art. 9 testing against prior metrics "
                             "and thresholds"],
]
LIMITATIONS = [
    "The numbers describe the evaluation dataset version named on the cover; they do not show how the model "
    "performs on other populations or after the data drifts.",
    "Confidence intervals are bootstrap percentiles over the evaluation rows; they assume those rows are "
    "representative and say nothing of uncertainty from the choice of data set.",
    "Accuracy, precision and recall are measured at the model's own decision (its predict); ROC AUC, Gini, KS, "
    "log loss, Brier score and calibration use its score for class 1 (predict_proba) and need one.",
    "Calibration deciles are cut at the score's deciles on these rows: tied scores can leave fewer than ten.",
    "A declared metric may have been measured by the developer on other data; a difference beyond the tolerance "
    "is flagged for the reviewer, it does not decide the gate.",
]


def _value(name: str, m: dict[str, Any]) -> str:
    if m["value"] is None:
        return "n/a"
    # Printed to 3 decimals rounded toward the worse side, as the JSON writes 6: never better than measured.
    text = f"{num_toward(m['value'], '<=' if name in LOWER_IS_BETTER else '>=', 3):.3f}"
    lo, hi = m["ci"]
    return text if lo is None else f"{text} [{lo:.3f}, {hi:.3f}]"


def _metrics(metrics: dict[str, Any]) -> list[Any]:
    checks = {c["metric"]: c for c in metrics["checks"]}
    rows = [["Metric", "Value [95% CI]", "Policy threshold", "Result"]]
    for name, m in metrics["metrics"].items():
        c = checks.get(name)
        rows.append([NAMES.get(name, name), _value(name, m), f"{c['op']} {c['threshold']}" if c else "—",
                     c["status"] if c else "—"])
    for name, c in checks.items():
        if name not in metrics["metrics"]:
            rows.append([name, "n/a", f"{c['op']} {c['threshold']}", c["status"]])
    story: list[Any] = [table(rows, [40 * mm, 55 * mm, 35 * mm, 30 * mm])]
    story += [para(f"• {NAMES.get(k, k)}: {m['note']}.") for k, m in metrics["metrics"].items() if m.get("note")]
    story += [para(f"• {c['metric']}: not measured: {c['reason']}.") for c in metrics["checks"]
              if c["status"] == "NOT MEASURED" and c["metric"] not in metrics["metrics"]]
    return story


def _calibration(metrics: dict[str, Any], charts: dict[str, bytes]) -> list[Any]:
    cal = metrics["calibration"]
    if not cal["bins"]:
        return [para("No calibration table: " + (cal["expected_calibration_error"].get("note") or "no scores") + ".")]
    rows = [["Decile", "n", "Score range", "Mean score", "Observed rate [95% CI]"]]
    for b in cal["bins"]:
        rate = b["observed_rate"]
        lo, hi = rate["ci"]
        rows.append([b["bin"], b["n"], f"{b['score_min']:.3f} to {b['score_max']:.3f}", f"{b['mean_score']:.3f}",
                     f"{rate['value']:.3f}" + ("" if lo is None else f" [{lo:.3f}, {hi:.3f}]")])
    ece = _value("expected_calibration_error", cal["expected_calibration_error"])
    story: list[Any] = [para(f"Bins: {cal['strategy']}; an empty bin is not listed."),
                        table(rows, [18 * mm, 15 * mm, 40 * mm, 25 * mm, 55 * mm]),
                        para("Expected calibration error (the rows' share-weighted gap between each decile's mean "
                             f"score and its observed rate): {ece}.")]
    if "curves" in charts:
        story.append(KeepTogether([para("The ROC curve with the KS gap marked, and the calibration table drawn "
                                        "against the diagonal (a calibrated model's points lie on it)."),
                                   image(charts["curves"], 170 * mm)]))
    return story


def _declared(metrics: dict[str, Any]) -> list[Any]:
    rows = [["Metric", "Declared", "Measured here", "Difference", "Flag"]]
    for r in metrics["declared"]:
        rows.append([NAMES.get(r["metric"], r["metric"]),
                     "—" if r["declared"] is None else f"{r['declared']:.4f}",
                     "n/a" if r["measured"] is None else f"{r['measured']:.4f}",
                     "—" if r["difference"] is None else f"{r['difference']:+.4f}",
                     "FLAGGED" if r["flagged"] else (r.get("note") or "")])
    return [para(f"What the developer declared when registering the version, beside what this report measured. "
                 f"A difference larger than {metrics['tolerance']} (the tolerance in force when the report was "
                 "requested) is flagged. Declared values are claims: no gate reads them."),
            table(rows, [40 * mm, 25 * mm, 30 * mm, 25 * mm, 50 * mm])]


def render_performance(cover_info: CoverInfo, metrics: dict[str, Any], charts: dict[str, bytes],
                       signoffs: list[dict[str, Any]]) -> bytes:
    m = metrics
    cm = m["confusion"]
    story = cover(cover_info, f"Performance report — {cover_info.model_name} v{cover_info.version}")
    story += [
        Paragraph("1. Scope and data", H2),
        para(f"Evaluated on {cover_info.extra.get('evaluation_source', 'the evaluation dataset version')}: "
             f"{m['rows']} rows, {m['positives']} of class 1 and {m['negatives']} of class 0. The artifact named on "
             "the cover made every prediction here, in this report's computation; nothing declared at registration "
             "enters these numbers."),
        para("Decisions are the model's own (predict); scores are its probability of class 1 (predict_proba)."
             + ("" if m["scores"] else " This model gives no scores: only decision metrics are measured.")),
        Paragraph("2. Method", H2),
        para("ROC AUC: the probability that a random row of class 1 scores above a random row of class 0. Gini: "
             "2 AUC - 1. KS: the largest gap between the score distributions of the two classes (the "
             "Kolmogorov-Smirnov statistic). Accuracy, precision and recall at the model's decision. Log loss: the "
             "mean negative log-likelihood of the labels under the scores (clipped to machine precision). Brier "
             "score: the mean squared difference between score and label."),
        para(f"95% intervals are bootstrap percentiles over {m['n_boot']} resamples of the rows drawn with seed "
             f"{m['seed']}, the same resamples the bias report draws with the same settings. Values are written "
             "to 6 decimals in the JSON twin and 3 here, rounded toward the worse side (down for a metric where "
             "higher is better, up for log loss and Brier score), so a value never reads as better than measured."
             + ("" if m["n_boot"] else " No resamples were drawn (n_boot = 0): no intervals are given.")),
        Paragraph("3. Measured metrics", H2), *_metrics(m),
        Paragraph("4. Decisions against labels", H2),
        table([["", "Predicted 0", "Predicted 1"], ["Actual 0", cm["tn"], cm["fp"]], ["Actual 1", cm["fn"], cm["tp"]]],
              [30 * mm, 30 * mm, 30 * mm]),
        Paragraph("5. Calibration", H2), *_calibration(m, charts),
        Paragraph("6. Declared and measured", H2), *_declared(m),
        Paragraph("7. Verdict for the gate", H2),
        para(f"Verdict: {m['verdict'].upper()}."),
        *[para(f"• {r}.") for r in m["verdict_reasons"]],
        para("The thresholds above are the policy's production rule for the model's risk tier when the report was "
             "requested. A promotion request's metric gates read this report's values as its JSON twin writes them, "
             "against the rule frozen on that request, and name this report; a metric the rule needs that this "
             "report could not measure fails its gate as not measured."),
    ]
    story += closing(MAPPING, LIMITATIONS, signoffs)
    return build(story, title=f"Performance report {cover_info.report_id}", report_id=cover_info.report_id,
                 metrics_sha256=cover_info.metrics_sha256)
