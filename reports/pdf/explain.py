"""The explainability report PDF (spec: reports.md, 'Explainability report')."""

from __future__ import annotations

from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer

from reports.pdf.document import H2, LEAD, CoverInfo, build, closing, cover, image, para, table

PERTURBATION = {
    "interventional": "interventional: a feature's absence is measured against the background sample",
    "tree-path-dependent": "tree-path-dependent: a feature's absence follows the training data's paths in the trees",
}

MAPPING = [
    ["Intended use, Human oversight", "EU AI Act Art. 13 (transparency) and Art. 14 (human oversight)"],
    ["Method, Global importance", "EU AI Act Annex IV 2(b) (design logic); SR 11-7 conceptual soundness"],
    ["Local explanations and reason codes", "CFPB circulars 2022-03 and 2023-03 (specific adverse-action reasons)"],
    ["Stability", "SR 11-7 ongoing monitoring; NIST AI RMF MEASURE 2.9 (explainability)"],
]
LIMITATIONS = [
    "SHAP attributes the model's output to features; it shows association inside the model, not causation.",
    "Correlated features share credit in ways that depend on the explainer; read importance of correlated "
    "features together.",
    "Explanations of rows unlike the training data (extrapolation) are as unreliable as the predictions.",
    "One-hot encoded features are summed back to their source column; within-column effects are not shown.",
]
OVERSIGHT = [
    "Read the top reasons of a case before acting on its score; if a reason relies on a value you know to be wrong, "
    "correct the data and score again rather than overriding silently.",
    "An operator may override any output; record the override and its reason in the case system.",
    "Escalate to the model owner when the reasons for many cases rest on one feature, or when the stability "
    "below falls: both are signs of drift.",
]


def _three(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def render_explain(cover_info: CoverInfo, metrics: dict[str, Any], charts: dict[str, bytes],
                   signoffs: list[dict[str, Any]]) -> bytes:
    m = metrics["method"]
    story = cover(cover_info, f"Explainability report — {cover_info.model_name} v{cover_info.version}")
    story += [Paragraph("1. Intended use", H2), para(cover_info.intended_use or "not stated"),
              # The decision is the one the model's owner states in its intended use; what this report takes
              # as favourable is said here, for any model, rather than assuming a credit decision.
              para(cover_info.extra.get("decision", "The decision the model supports is the one its intended use "
                                                    "states. This report explains the model's score for class 1, "
                                                    "the favourable outcome; a prediction of 0 is the adverse "
                                                    "outcome, whose reasons are given below.")),
              Paragraph("2. Method", H2),
              table([["Setting", "Value"], ["Explainer", m["explainer"]], ["Estimator", m["estimator"]],
                     ["Output explained", m["output_explained"]],
                     ["Feature perturbation", PERTURBATION.get(m["feature_perturbation"], m["feature_perturbation"])],
                     ["Background sample", f"{m['background_size']} {m['background_source']}"],
                     ["Background SHA-256", m["background_sha256"]], ["Seed", m["seed"]],
                     ["Rows explained", f"{m['rows_explained']} {m['rows_explained_source']}"],
                     ["Local cases", f"{m['local_cases']}, adverse outcomes first"],
                     ["Additivity check", f"max |error| {metrics['additivity']['max_abs_error']} "
                      f"(tolerance {metrics['additivity']['tolerance']}): "
                      f"{'passed' if metrics['additivity']['passed'] else 'FAILED'}"]], [50 * mm, 120 * mm]),
              Paragraph("3. Global importance", H2)]
    if "importance" in charts:
        story.append(image(charts["importance"], 150 * mm))
    if "beeswarm" in charts:
        story.append(image(charts["beeswarm"], 150 * mm))
    story.append(table([["Rank", "Feature", "mean |SHAP|"]] + [
        [g["rank"], g["feature"], f"{g['mean_abs_shap']:.4f}"] for g in metrics["global_importance"][:15]
    ], [15 * mm, 80 * mm, 30 * mm]))
    story.append(Paragraph("4. Dependence plots for the top features", H2))
    for key in sorted(k for k in charts if k.startswith("dependence:")):
        story.append(image(charts[key], 90 * mm))
    story.append(Paragraph("5. Local explanations", H2))
    story.append(para("Each case's waterfall starts at the base value (the mean output over the background sample); "
                      "red bars raise the score toward the favourable outcome, blue bars lower it."))
    for case in metrics["local"]:
        story.append(Spacer(1, 3 * mm))
        story.append(para(f"Case {case['row']}: prediction {case['prediction']}"
                          + (" (adverse outcome)" if case["adverse"] else ""), LEAD))
        key = f"waterfall:{case['row']}"
        if key in charts:
            story.append(image(charts[key], 140 * mm))
        story += [para(f"Reason {i + 1}: {r['text']} (SHAP {r['shap']:+.4f})") for i, r in enumerate(case["reasons"])]
    s = metrics["stability"]
    story += [Paragraph("6. Stability", H2),
              para(f"Spearman rank correlation of global importance over {s['resamples']} bootstrap resamples: "
                   f"mean {_three(s['mean_spearman'])}, minimum {_three(s['min_spearman'])}."),
              Paragraph("7. Limitations of the explanation", H2), *[para(f"• {t}") for t in LIMITATIONS],
              Paragraph("8. Human-oversight guidance", H2), *[para(f"• {t}") for t in OVERSIGHT]]
    story += closing(MAPPING, None, signoffs)  # the limitations are section 7
    return build(story, title=f"Explainability report {cover_info.report_id}", report_id=cover_info.report_id,
                 metrics_sha256=cover_info.metrics_sha256)
