"""The bias / fairness report PDF (spec: reports.md, 'Bias / fairness report')."""

from __future__ import annotations

from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Paragraph

from reports.bias import DIRECTION
from reports.numbers import num_toward
from reports.pdf.document import H2, CoverInfo, build, closing, cover, image, para, table, text

MAPPING = [
    ["Scope, Data", "EU AI Act Art. 10(2)(f)-(g) and Annex IV 2(d): examination of possible biases in data"],
    ["Metric choice and thresholds", "NIST AI RMF MEASURE 2.11; SR 11-7 conceptual soundness"],
    ["Per-group metrics, disparities", "NYC LL 144 selection rates and impact ratios; NIST AI RMF MEASURE 2.11"],
    ["Overall performance", "SR 11-7 outcomes analysis; EU AI Act Annex IV 3 (accuracy metrics)"],
    ["Verdict and monitoring triggers", "SR 11-7 ongoing monitoring; EU AI Act Art. 72 post-market monitoring"],
]
LIMITATIONS = [
    "Group metrics describe the evaluation dataset; they do not prove the absence of bias in other populations.",
    "Groups below the minimum size are reported but excluded from pass/fail: their rates are too uncertain.",
    "Rows with an unknown value of an attribute are counted and shown, never dropped, but are not a group.",
    "Confidence intervals are bootstrap percentiles; they assume the evaluation rows are representative.",
    "A rate whose denominator is zero (TPR of a group without positives) is undefined, shown n/a, and left out "
    "of the comparisons it would enter; it is never counted as 0, nor as a pass or a fail.",
    "Disparities are rounded toward the failing side of their threshold, so a failing value never prints as "
    "meeting it.",
    "Parity metrics can conflict with each other and with accuracy; the thresholds come from the policy in force.",
]


_NAMES = {"selection_rate": "selection rate", "tpr": "TPR", "fpr": "FPR", "precision": "precision",
          "accuracy": "accuracy", "recall": "recall", "roc_auc": "ROC AUC"}


def _ci(m: dict[str, Any]) -> str:
    if m["value"] is None:
        return "n/a"
    lo, hi = m["ci"]
    value = f"{m['value']:.3f}"
    if lo is None:
        return value + (" [no CI]" if "note" in m else "")
    return f"{value} [{lo:.3f}, {hi:.3f}]"


def _judged(value: float | None, op: str) -> str:
    """A value compared with a threshold, to 3 decimals rounded toward failing it."""
    shown = num_toward(value, op, 3)
    return "n/a" if shown is None else f"{shown:.3f}"


def _notes(where: str, metrics: dict[str, dict[str, Any]]) -> list[str]:
    return [f"{where}{_NAMES.get(k, k)}: {m['note']}." for k, m in metrics.items()
            if isinstance(m, dict) and m.get("note")]


def _attribute(section: dict[str, Any], charts: dict[str, bytes]) -> list[Any]:
    story: list[Any] = [Paragraph(f"Attribute: {text(section['attribute'])}", H2)]
    rows = [["Group", "n", "share", "selection rate", "TPR", "FPR", "precision", "accuracy", "note"]]
    for g in section["groups"]:
        rows.append([g["group"], g["n"], f"{g['share']:.3f}", _ci(g["selection_rate"]), _ci(g["tpr"]),
                     _ci(g["fpr"]), _ci(g["precision"]), _ci(g["accuracy"]),
                     "too small to conclude" if g["too_small"] else ""])
    story.append(table(rows, [24 * mm, 10 * mm, 12 * mm, 24 * mm, 24 * mm, 24 * mm, 22 * mm, 22 * mm, 18 * mm]))
    for g in section["groups"]:
        story += [para(f"• {n}") for n in _notes(f"Group {g['group']}, ", g)]
    if section["unknown"]:
        story.append(para(f"{section['unknown']} row(s) with an unknown value were counted above as 'unknown'."))
    d = section["disparities"]
    if d:
        story.append(para("Disparities: " + ", ".join(
            f"{k.replace('_', ' ')} {_judged(v, DIRECTION[k])}" for k, v in d.items() if k in DIRECTION
            and not isinstance(v, dict))
            + (f"; most selected group: {d['most_selected_group']}" if "most_selected_group" in d else "")))
    if section.get("no_check_reason"):
        story.append(para(f"No disparity check could be made: {section['no_check_reason']}."))
    story += [para(f"• Note: {n}.") for n in section.get("notes", [])]
    key = f"rates:{section['attribute']}"
    if key in charts:
        story.append(image(charts[key], 180 * mm))
    return story


def render_bias(cover_info: CoverInfo, metrics: dict[str, Any], charts: dict[str, bytes],
                signoffs: list[dict[str, Any]]) -> bytes:
    story = cover(cover_info, f"Bias and fairness report — {cover_info.model_name} v{cover_info.version}")
    attrs = metrics["attributes"]
    story += [Paragraph("1. Scope", H2), para(
        "Sensitive attributes examined: " + ", ".join(a["attribute"] for a in attrs)
        + (f"; intersection: {metrics['intersections'][0]['attribute']}" if metrics["intersections"] else "")
        + f". Source: {cover_info.extra.get('sensitive_source', 'the evaluation dataset version')}. "
        + cover_info.extra.get("group_definitions", "")),
        para("Rows with an unknown value: " + ", ".join(f"{a['attribute']}: {a['unknown']}" for a in attrs) + "."),
        Paragraph("2. Data", H2),
        para(f"{metrics['rows']} evaluation rows. Groups under {metrics['min_group_size']} rows (the larger of 30 "
             "and 2% of rows) are flagged as too small to conclude. " + cover_info.extra.get("labels", "")),
        Paragraph("3. Metric choice and thresholds", H2),
        para("Thresholds from the policy in force: " + ", ".join(
            f"{k.replace('_', ' ')} {'≤' if 'difference' in k else '≥'} {v}" for k, v in metrics["thresholds"].items())
            + ". Demographic parity and the four-fifths impact ratio test whether favourable outcomes reach groups at "
            "similar rates (as for adverse-action and employment rules); equalized odds and equal opportunity test "
            "whether error rates are similar, which matters when base rates differ."),
        Paragraph("4. Overall performance", H2),
        table([["Metric", "Value [95% CI]"]] + [[_NAMES.get(k, k), _ci(v)] for k, v in metrics["overall"].items()],
              [50 * mm, 60 * mm]),
        *[para(f"• {n}") for n in _notes("", metrics["overall"])],
        *([] if metrics["n_boot"] else [para("No bootstrap resamples were drawn (n_boot = 0): no confidence "
                                             "intervals are given.")]),
        Paragraph("5. Per group", H2)]
    for section in attrs:
        story += _attribute(section, charts)
    story.append(Paragraph("6. Disparities against thresholds (worst first)", H2))
    story.append(table([["Attribute", "Metric", "Group", "Value", "Threshold", "Result"]] + [
        [c["attribute"], c["metric"], c.get("group", ""), _judged(c["value"], c["op"]),
         f"{c['op']} {c['threshold']}", c["status"]] for c in metrics["checks"]
    ], [35 * mm, 45 * mm, 30 * mm, 18 * mm, 22 * mm, 16 * mm]))
    story += [para(f"Not checked: {n['attribute']}, {n['metric'].replace('_', ' ')}: {n['reason']}. Neither a "
                   "pass nor a fail.") for n in metrics.get("not_checked", [])]
    story.append(Paragraph("7. Intersections", H2))
    for section in metrics["intersections"]:
        story += _attribute(section, charts)
        if section.get("no_check_reason"):
            story.append(para("An intersection without a check is reported but does not decide the verdict; each "
                              "attribute on its own does."))
    if not metrics["intersections"]:
        story.append(para("Only one sensitive attribute: no intersection."))
    story.append(Paragraph("8. Charts", H2))
    story.append(para("Per-group charts are shown with each attribute above: rates with 95% bootstrap intervals; "
                      "threshold lines drawn from the groups large enough to count, as the checks are: the impact "
                      "ratio against the most selected group, and the TPR and FPR differences allowed."))
    story += [Paragraph("9. Verdict for the gate and monitoring", H2),
              para(f"Verdict: {metrics['verdict'].upper()} ({metrics['failed_checks']} failed check(s))."),
              *[para(f"• Reason: {r}.") for r in metrics.get("verdict_reasons", [])],
              para("Monitoring triggers:"), *[para(f"• {t}") for t in metrics["monitoring_triggers"]]]
    story += closing(MAPPING, LIMITATIONS, signoffs)
    return build(story, title=f"Bias report {cover_info.report_id}", report_id=cover_info.report_id,
                 metrics_sha256=cover_info.metrics_sha256)
