"""The bias / fairness report PDF (spec: reports.md, 'Bias / fairness report'); metrics from reports.bias."""

from __future__ import annotations

from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph

from reports.pdf.document import (
    BODY,
    H2,
    H3,
    SMALL,
    WIDTH,
    CoverInfo,
    build,
    bullets,
    closing,
    fmt,
    image,
    keep,
    para,
    table,
    text,
)
from reports.pdf.document import cover as cover_page

MAPPING = [
    ["1 Scope, 2 Data", "EU AI Act Art. 10(2)(f)-(g) and Annex IV 2(d): examination of possible biases in the data; "
                        "NYC LL 144: number of individuals in an unknown category"],
    ["3 Metric choice and thresholds", "NIST AI RMF MEASURE 2.11 (fairness and bias evaluated); SR 11-7 conceptual "
                                       "soundness"],
    ["4 Overall performance", "EU AI Act Annex IV 3 and Art. 15 (accuracy metrics); SR 11-7 outcomes analysis"],
    ["5 Per group, 6 Disparities, 7 Intersections", "NYC LL 144 selection rates and impact ratios by category and "
                                                    "intersection; NIST AI RMF MEASURE 2.11; ECOA / Reg B "
                                                    "disparate-impact review"],
    ["9 Verdict and monitoring triggers", "SR 11-7 ongoing monitoring; EU AI Act Art. 9 (risk management) and "
                                          "Art. 72 (post-market monitoring); NIST AI RMF MANAGE 4.1"],
]
LIMITATIONS = [
    "The numbers describe the evaluation dataset named on the cover; they do not establish the absence of bias in "
    "other populations or after the population drifts.",
    "Groups below the minimum size are shown but kept out of pass/fail: their rates are too uncertain to conclude.",
    "Rows with an unknown value of an attribute are counted and shown as 'unknown', never dropped, and are not "
    "compared as a group.",
    "Confidence intervals are bootstrap percentiles over rows; they assume the rows are a representative sample.",
    "Parity metrics can conflict with one another and with accuracy; the thresholds come from the policy in force, "
    "not from this report.",
    "Sensitive attributes are as recorded in the data; proxies for them among the model's features are not "
    "examined here (see the explainability report).",
]
WHY = {
    "demographic_parity_difference": "favourable outcomes (approval) reach every group at similar rates, the "
                                     "outcome a credit or hiring regulator compares",
    "demographic_parity_ratio": "the least favoured group's rate as a share of the most favoured group's",
    "equalized_odds_difference": "the larger of the TPR and FPR gaps: errors fall alike on every group, the right "
                                 "test when groups' base rates differ",
    "equalized_odds_ratio": "the smaller of the TPR and FPR ratios between groups",
    "equal_opportunity_difference": "applicants who turned out good are approved at similar rates (TPR gap)",
    "impact_ratio": "each group's selection rate over the most selected group's: the four-fifths rule (EEOC "
                    "Uniform Guidelines, NYC LL 144)",
}
METRICS = [("selection_rate", "Selection rate"), ("tpr", "TPR"), ("fpr", "FPR"), ("precision", "Precision"),
           ("accuracy", "Accuracy")]
FAIL, WARN = "#f8d7d5", "#eeeeee"


def _cell(stat: dict[str, Any]) -> Paragraph:
    if stat.get("value") is None:
        return Paragraph("—", SMALL)
    lo, hi = stat.get("ci") or (None, None)
    ci = "" if lo is None or hi is None else f"<br/><font size=6>[{lo:.3f}, {hi:.3f}]</font>"
    return Paragraph(f"{stat['value']:.3f}{ci}", SMALL)


def _status(g: dict[str, Any]) -> str:
    return "unknown" if g["unknown"] else "too small to conclude" if g["too_small"] else "compared"


def _data_table(section: dict[str, Any]) -> Flowable:
    rows = [["Group", "Rows", "Share", "Status"]] + [[g["group"], g["n"], f"{100 * g['share']:.1f}%", _status(g)]
                                                     for g in section["groups"]]
    return table(rows, [70 * mm, 20 * mm, 20 * mm, 50 * mm],
                 highlight=lambda i: None if section["groups"][i - 1]["eligible"] else WARN)


def _group_table(section: dict[str, Any]) -> list[Flowable]:
    rows: list[list[Any]] = [["Group", "n", *(label for _, label in METRICS)]]
    for g in section["groups"]:
        rows.append([g["group"] + ("" if g["eligible"] else f" ({_status(g)})"), g["n"],
                     *(_cell(g[m]) for m, _ in METRICS)])
    story: list[Flowable] = [Paragraph(text(section["attribute"]), H3),
                             table(rows, [40 * mm, 12 * mm, *[(WIDTH - 52 * mm) / 5] * 5],
                                   highlight=lambda i: None if section["groups"][i - 1]["eligible"] else WARN)]
    if section["impact_ratios"]:
        ratios = "; ".join(f"{r['group']} {fmt(r['impact_ratio']['value'])}" for r in section["impact_ratios"])
        story.append(para(f"Impact ratios against the most selected group ({section['most_selected_group']}): "
                          f"{ratios}."))
    if not section["conclusive"]:
        story.append(para("Fewer than two groups are large enough to compare: no disparity can be concluded for "
                          "this " + ("attribute; the report fails until there is enough data."
                                     if section["kind"] == "attribute" else "intersection.")))
    return story


def _checks_table(checks: list[dict[str, Any]]) -> Flowable:
    rows: list[list[Any]] = [["Attribute", "Metric", "Group", "Value [95% CI]", "Limit", "Result"]]
    for c in checks:
        ci = c.get("ci") or [None, None]
        value = fmt(c["value"]) + ("" if ci[0] is None else f" [{ci[0]:.3f}, {ci[1]:.3f}]")
        rows.append([c["attribute"], c["metric"].replace("_", " "), c["group"] or "—", value,
                     f"{c['op']} {c['threshold']}", c["status"]])
    return table(rows, [34 * mm, 40 * mm, 30 * mm, 38 * mm, 16 * mm, WIDTH - 158 * mm],
                 highlight=lambda i: FAIL if checks[i - 1]["status"] == "FAIL" else None)


def _story(info: CoverInfo, m: dict[str, Any], charts: dict[str, bytes], signoffs: list[dict[str, Any]]) -> list[Any]:
    attrs, inters = m["attributes"], m["intersections"]
    sections = attrs + inters
    story: list[Any] = cover_page(info, f"Bias and fairness report — {info.model_title}")
    story += [
        Paragraph("1. Scope", H2),
        para("Sensitive attributes examined: " + ", ".join(a["attribute"] for a in attrs)
             + (f"; and their intersection ({inters[0]['attribute']})." if inters else ".")),
        para("Where they come from: " + info.extra.get("sensitive_source", "the evaluation dataset named on the cover")
             + "."),
        para("Group definitions: " + info.extra.get("group_definitions", "the values recorded in the data")
             + ". Every spelling of 'not recorded' (empty, NaN, 'unknown', 'not_known', ...) is counted as one "
               "'unknown' group."),
        *bullets([f"{a['attribute']}: {a['unknown']} row(s) with an unknown value"
                  + (" (" + ", ".join(f"{k}: {v}" for k, v in a["unknown_values"].items()) + ")"
                     if a["unknown_values"] else "") for a in attrs]),
        Paragraph("2. Data", H2),
        para(f"{m['rows']} evaluation rows. A group is too small to conclude below {m['min_group_rows']} rows (the "
             f"larger of {m['min_group_size']} rows and {100 * m['min_group_share']:g}% of the rows); such groups and "
             "the unknowns are shown but not compared."),
    ]
    for s in sections:
        story += [Paragraph(text(s["attribute"]), H3), _data_table(s)]
    story += [Paragraph("3. Metric choice and thresholds", H2),
              para("Thresholds are those of the policy in force for this model's risk tier; each is checked on the "
                   "groups large enough to compare. Selection means a favourable prediction (class 1)."),
              table([["Metric", "Limit", "Why it fits a credit decision"]]
                    + [[k.replace("_", " "), f"{m['directions'][k]} {v}", WHY.get(k, "")]
                       for k, v in m["thresholds"].items()], [48 * mm, 18 * mm, WIDTH - 66 * mm]),
              Paragraph("4. Overall performance", H2),
              para(f"Point estimates on all {m['rows']} rows; 95% bootstrap intervals from {m['n_boot']} resamples "
                   f"(seed {m['seed']})."),
              table([["Metric", "Value", "95% CI"]] + [
                  [k.replace("_", " "), fmt(v["value"]), "—" if v["ci"][0] is None else
                   f"[{v['ci'][0]:.3f}, {v['ci'][1]:.3f}]"] for k, v in m["overall"].items()],
                  [48 * mm, 30 * mm, 50 * mm]),
              Paragraph("5. Per group", H2),
              para("Each cell: the value and, below it, its 95% bootstrap interval. TPR: share of good outcomes "
                   "approved; FPR: share of bad outcomes approved.")]
    for s in attrs:
        story += _group_table(s)
    story += [Paragraph("6. Disparities against thresholds, worst first", H2),
              para(f"{m['failed_checks']} of {len(m['checks'])} checks fail. Differences must stay at or below "
                   "their limit, ratios at or above it."),
              _checks_table(m["checks"]), Paragraph("7. Intersections", H2)]
    for s in inters:
        story += _group_table(s)
    if not inters:
        story.append(para("Only one sensitive attribute: there is no intersection."))
    story.append(Paragraph("8. Charts", H2))
    for s in sections:
        key = f"rates:{s['attribute']}"
        if key in charts:
            story.append(keep(Paragraph(text(s["attribute"]), H3), image(charts[key], WIDTH)))
    story += [Paragraph("9. Verdict for the gate, and monitoring triggers", H2),
              Paragraph(f"<b>Verdict: {m['verdict'].upper()}</b> — {m['failed_checks']} failed check(s).", BODY),
              para("A promotion gate that requires a passing bias report reads this verdict."),
              Paragraph("Monitoring triggers", H3), *bullets([t["text"] for t in m["monitoring_triggers"]])]
    return story + closing(MAPPING, LIMITATIONS, signoffs)


def render_bias(cover: CoverInfo, metrics: dict[str, Any], charts: dict[str, bytes],
                signoffs: list[dict[str, Any]]) -> bytes:
    return build(lambda: _story(cover, metrics, charts, signoffs), cover,
                 f"Bias report {cover.report_id}: {cover.model_name} v{cover.version}")
