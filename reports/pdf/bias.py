"""The bias / fairness report PDF (spec: reports.md, 'Bias / fairness report')."""

from __future__ import annotations

from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Paragraph

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
    "Parity metrics can conflict with each other and with accuracy; the thresholds come from the policy in force.",
]


def _ci(m: dict[str, Any]) -> str:
    lo, hi = m["ci"]
    value = "—" if m["value"] is None else f"{m['value']:.3f}"
    return value if lo is None else f"{value} [{lo:.3f}, {hi:.3f}]"


def _attribute(section: dict[str, Any], charts: dict[str, bytes]) -> list[Any]:
    story: list[Any] = [Paragraph(f"Attribute: {text(section['attribute'])}", H2)]
    rows = [["Group", "n", "share", "selection rate", "TPR", "FPR", "precision", "accuracy", "note"]]
    for g in section["groups"]:
        rows.append([g["group"], g["n"], f"{g['share']:.3f}", _ci(g["selection_rate"]), _ci(g["tpr"]),
                     _ci(g["fpr"]), _ci(g["precision"]), _ci(g["accuracy"]),
                     "too small to conclude" if g["too_small"] else ""])
    story.append(table(rows, [24 * mm, 10 * mm, 12 * mm, 24 * mm, 24 * mm, 24 * mm, 22 * mm, 22 * mm, 18 * mm]))
    if section["unknown"]:
        story.append(para(f"{section['unknown']} row(s) with an unknown value were counted above as 'unknown'."))
    d = section["disparities"]
    if d:
        story.append(para("Disparities: " + ", ".join(
            f"{k.replace('_', ' ')} {v:.3f}" for k, v in d.items() if isinstance(v, int | float))
            + f"; most selected group: {d.get('most_selected_group')}"))
    else:
        story.append(para("Fewer than two groups are large enough: no disparity can be concluded."))
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
             "and 2% of rows) are flagged as too small to conclude."),
        Paragraph("3. Metric choice and thresholds", H2),
        para("Thresholds from the policy in force: " + ", ".join(
            f"{k.replace('_', ' ')} {'≤' if 'difference' in k else '≥'} {v}" for k, v in metrics["thresholds"].items())
            + ". Demographic parity and the four-fifths impact ratio test whether favourable outcomes reach groups at "
            "similar rates (as for adverse-action and employment rules); equalized odds and equal opportunity test "
            "whether error rates are similar, which matters when base rates differ."),
        Paragraph("4. Overall performance", H2),
        table([["Metric", "Value [95% CI]"]] + [[k, _ci(v)] for k, v in metrics["overall"].items()],
              [50 * mm, 60 * mm]),
        Paragraph("5. Per group", H2)]
    for section in attrs:
        story += _attribute(section, charts)
    story.append(Paragraph("6. Disparities against thresholds (worst first)", H2))
    story.append(table([["Attribute", "Metric", "Group", "Value", "Threshold", "Result"]] + [
        [c["attribute"], c["metric"], c.get("group", ""), "—" if c["value"] is None else f"{c['value']:.3f}",
         f"{c['op']} {c['threshold']}", c["status"]] for c in metrics["checks"]
    ], [35 * mm, 45 * mm, 30 * mm, 18 * mm, 22 * mm, 16 * mm]))
    story.append(Paragraph("7. Intersections", H2))
    for section in metrics["intersections"]:
        story += _attribute(section, charts)
    if not metrics["intersections"]:
        story.append(para("Only one sensitive attribute: no intersection."))
    story.append(Paragraph("8. Charts", H2))
    story.append(para("Per-group charts are shown with each attribute above: rates with 95% bootstrap intervals and "
                      "the four-fifths line against the most selected group."))
    story += [Paragraph("9. Verdict for the gate and monitoring", H2),
              para(f"Verdict: {metrics['verdict'].upper()} ({metrics['failed_checks']} failed check(s))."),
              *[para(f"• {t}") for t in metrics["monitoring_triggers"]]]
    story += closing(MAPPING, LIMITATIONS, signoffs)
    return build(story, title=f"Bias report {cover_info.report_id}", report_id=cover_info.report_id,
                 metrics_sha256=cover_info.metrics_sha256)
