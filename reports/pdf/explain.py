"""The explainability report PDF (spec: reports.md, 'Explainability report'); metrics from reports.explain."""

from __future__ import annotations

from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Table

from reports.pdf.document import H2, H3, WIDTH, CoverInfo, build, bullets, closing, fmt, image, keep, para, table, text
from reports.pdf.document import cover as cover_page

MAPPING = [
    ["1 Intended use, 8 Human oversight", "EU AI Act Art. 13 (transparency, instructions for use) and Art. 14 "
                                          "(human oversight); Annex IV 2(e)"],
    ["2 Method, 3 Global importance, 4 Dependence",
     "EU AI Act Annex IV 2(b) (design logic, what the system optimises); SR 11-7 conceptual soundness; "
     "NIST AI RMF MEASURE 2.9"],
    ["5 Local explanations and reason codes",
     "ECOA / Regulation B adverse-action notices; CFPB circulars 2022-03 and 2023-03 (specific reasons that reflect "
     "the factors actually considered)"],
    ["6 Stability", "SR 11-7 ongoing monitoring; NIST AI RMF MEASURE 2.9 (explanations validated)"],
    ["7 Limitations of the explanation", "SR 11-7 (model limitations documented); EU AI Act Art. 13(3)(b)"],
]
LIMITATIONS = [
    "The explanation covers the rows sampled from the evaluation dataset named on the cover, with the seed stated.",
    "Attributions describe the model, not the world: they are no evidence that a feature causes the outcome.",
]
EXPLANATION_LIMITS = [
    "Correlated features share credit in ways that depend on the explainer: read the importance of correlated "
    "features together, and expect a proxy (for example of age or sex) to carry weight even if the attribute is "
    "not a feature.",
    "Rows unlike the training data (extrapolation) get explanations as unreliable as their predictions.",
    "SHAP values explain one output relative to a base value; they do not say what the decision would be had a "
    "feature been different (that is a counterfactual), nor whether the model is fair or accurate.",
    "Where the preprocessing splits a column (one-hot encoding), its parts are summed back to the column; effects "
    "within a column are not shown separately.",
    "TreeExplainer in its path-dependent form uses the trees' own training statistics as background; "
    "PermutationExplainer estimates from a finite number of permutations and the background sample stated.",
]
OVERSIGHT = [
    "The score supports, and does not replace, the credit decision. Read a case's top reasons before acting on it.",
    "If a reason rests on a value you know to be wrong, correct the data and score again; do not override silently.",
    "You may override any output. Record the override, its reason and your name in the case system; overrides are "
    "reviewed monthly by the model owner.",
    "For an adverse outcome, the reasons listed here are the ones to state to the applicant; never cite a sensitive "
    "attribute (age, sex) as a reason, and escalate a case where it is among the top reasons.",
    "Escalate to the model owner when many cases rest on one feature, or when the stability below falls below 0.8: "
    "both can be signs of drift.",
]
DECISION = ("The model scores a credit application; class 1 (good credit) is the favourable outcome and class 0 "
            "(bad credit: the application is declined or referred) the adverse one.")


def _method(m: dict[str, Any]) -> Table:
    meth, add = m["method"], m["additivity"]
    rows = [["Setting", "Value"], ["Explainer", meth["explainer"]],
            ["Model (estimator explained)", f"{meth['model']} ({meth['estimator']})"],
            ["Preprocessing applied first", meth["preprocessing"] or "none"],
            ["Features explained", f"{meth['feature_space']} ({meth['transformed_features']} model inputs)"],
            ["Output explained", meth["output_explained"]], ["Feature perturbation", meth["feature_perturbation"]],
            ["Background sample", f"{meth['background_size']} rows" if meth["background_size"] else "none"],
            ["Background SHA-256", meth["background_sha256"] or "—"], ["Seed", meth["seed"]],
            ["Rows explained", f"{meth['rows_explained']} of {meth['rows_available']}"],
            ["Additivity check", f"max |Σ SHAP + base - model output| = {add['max_abs_error']} (tolerance "
                                 f"{add['tolerance']}): {'passed' if add['passed'] else 'FAILED'}"]]
    if meth.get("permutations"):
        rows.insert(8, ["Permutations per row", meth["permutations"]])
    return table(rows, [50 * mm, WIDTH - 50 * mm])


def _local(m: dict[str, Any], charts: dict[str, bytes]) -> list[Flowable]:
    story: list[Flowable] = []
    for case in m["local"]:
        outcome = "adverse outcome (declined)" if case["adverse"] else "favourable outcome"
        actual = "" if case["actual"] is None else f"; observed outcome {case['actual']}"
        parts: list[Flowable] = [Paragraph(text(f"Row {case['row']}: {outcome}{actual}"), H3)]
        if f"waterfall:{case['row']}" in charts:
            parts.append(image(charts[f"waterfall:{case['row']}"], 150 * mm))
        lead = "Principal reasons for the adverse outcome:" if case["adverse"] else "Main reasons for approval:"
        parts.append(para(lead))
        parts += bullets([f"{r['rank']}. {r['text']} (SHAP {r['shap']:+.3f})" for r in case["reasons"]]
                         or ["no feature pushed towards this outcome"])
        story.append(keep(*parts))
    return story


def _story(info: CoverInfo, m: dict[str, Any], charts: dict[str, bytes], signoffs: list[dict[str, Any]]) -> list[Any]:
    story: list[Any] = cover_page(info, f"Explainability report — {info.model_title}")
    story += [Paragraph("1. Intended use and the decision supported", H2), para(info.intended_use or "not stated"),
              para(info.extra.get("decision", DECISION)),
              Paragraph("2. Method", H2), _method(m),
              Paragraph("3. Global importance", H2),
              para("Mean absolute SHAP value per feature over the explained rows: how much, on average, the feature "
                   "moves the model output. The beeswarm shows every row: position is the effect, colour the value.")]
    for key in ("importance", "beeswarm"):
        if key in charts:
            story.append(image(charts[key], 160 * mm))
    story.append(table([["Rank", "Feature", "Description", "Mean |SHAP|", "Share"]] + [
        [g["rank"], g["feature"], g["description"] or "", fmt(g["mean_abs_shap"], 4), f"{100 * g['share']:.1f}%"]
        for g in m["global_importance"][:15]], [12 * mm, 45 * mm, WIDTH - 107 * mm, 28 * mm, 22 * mm]))
    story.append(Paragraph("4. Dependence plots for the top features", H2))
    plots = [image(charts[f"dependence:{g['feature']}"], 85 * mm) for g in m["global_importance"]
             if f"dependence:{g['feature']}" in charts]
    if plots:
        grid = [plots[i:i + 2] + [""] * (2 - len(plots[i:i + 2])) for i in range(0, len(plots), 2)]
        story.append(Table(grid, colWidths=[WIDTH / 2] * 2, hAlign="LEFT"))
    story += [Paragraph("5. Local explanations", H2),
              para("Sampled rows, half of them adverse outcomes where there are any. Each bar is one feature's "
                   "contribution; the reasons are the features that pushed the output towards the outcome given, "
                   "largest first, in plain words (the reason codes of an adverse-action notice)."),
              *_local(m, charts)]
    s = m["stability"]
    story += [Paragraph("6. Stability", H2),
              para(f"{s['method']}, over {s['resamples']} resamples: mean {fmt(s['mean_spearman'])}, minimum "
                   f"{fmt(s['min_spearman'])}. Values near 1 mean the ranking does not depend on which rows were "
                   "sampled."),
              Paragraph("7. Limitations of the explanation", H2), *bullets(EXPLANATION_LIMITS),
              Paragraph("8. Human-oversight guidance", H2), *bullets(OVERSIGHT)]
    return story + closing(MAPPING, LIMITATIONS, signoffs)


def render_explain(cover: CoverInfo, metrics: dict[str, Any], charts: dict[str, bytes],
                   signoffs: list[dict[str, Any]]) -> bytes:
    return build(lambda: _story(cover, metrics, charts, signoffs), cover,
                 f"Explainability report {cover.report_id}: {cover.model_name} v{cover.version}")
