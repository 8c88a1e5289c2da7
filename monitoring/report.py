"""The monitoring report (issue 23 §5): the plan, the baseline, each metric over time against its thresholds, each
breach and what it triggered, as a deterministic PDF with its JSON twin, made from plain data only.

Numbers in the twin are written to 6 decimals (reports.numbers). A value the plan judges is rounded so that the
colour it reads as written is the colour it was given: a plan's bound belongs to the worse colour (red at
value >= red where higher is worse, at value <= red where lower is worse), so such a value is rounded down where
higher is worse and up where lower is worse. The PDF prints it to 3 decimals the same way. Other numbers are
rounded to the nearest.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table

from audit.format.jcs import digest_of
from monitoring.report_charts import metric_over_time
from reports.numbers import clean, num, num_toward
from reports.pdf.document import BODY, H2, CoverInfo, build, cover, image, para, table, text

# A sub-heading (a breach, a table's title), kept with what follows it as H2 is.
H3 = ParagraphStyle("h3", parent=H2, fontSize=9, leading=12, spaceBefore=6, spaceAfter=3)
DIGESTS = ParagraphStyle("digests", parent=BODY, fontSize=6.5, leading=8)

# What each measurement a plan may threshold is, in words; a metric not named here is shown by its key.
DESCRIPTIONS = {
    "feature_psi": "largest PSI over the features",
    "feature_ks": "largest KS statistic over the numeric features",
    "feature_js": "largest Jensen-Shannon distance over the categorical features",
    "feature_missing_shift": "largest move of a feature's share of empty cells from the baseline's",
    "score_psi": "PSI of the model's score",
    "roc_auc_drop": "validated ROC AUC less the batch's",
    "ks_drop": "validated KS less the batch's",
    "gini_drop": "validated Gini less the batch's",
    "accuracy_drop": "validated accuracy less the batch's",
    "expected_calibration_error": "expected calibration error on the labelled rows",
    "selection_rate_shift": "largest move of a group's selection rate from the validated one",
    "tpr_shift": "largest move of a group's true positive rate from the validated one",
    "impact_ratio": "lowest impact ratio of an attribute (four-fifths rule)",
    "days_without_batches": "days without a production batch",
}
ON_RED = {"revalidate": "opens a re-validation request for the version, naming the breach",
          "hold": "blocks new promotions of the model until a validator records a review of the breach"}
CONSEQUENCES = {"notified": "notified the model's owner and validators",
                "revalidation": "opened re-validation request #{request} for the version",
                "hold": "placed hold #{hold}: no new promotion of the model until a validator records a review of "
                        "the breach"}
MAPPING = [
    ["1. Plan, 3. State over time", "SR 11-7 ongoing monitoring (process verification, outcomes analysis, "
                                    "benchmarks against the validated model); NIST AI RMF MEASURE 2.4 and 3.1"],
    ["2. Baseline", "SR 11-7 ongoing monitoring against the validated performance; EU AI Act Art. 72(1)-(3) "
                    "post-market monitoring plan and system"],
    ["3. State over time, 5. Drift", "EU AI Act Art. 72(2) (collect and analyse data on performance throughout "
                                     "the lifetime); NIST AI RMF MEASURE 2.4 (functionality and behaviour monitored "
                                     "in production)"],
    ["4. Breaches", "SR 11-7 (thresholds that trigger action, re-validation); EU AI Act Art. 72 and Art. 20 "
                    "(corrective action); NIST AI RMF MANAGE 4.1 (post-deployment monitoring, response)"],
    ["Batches, evaluations, digests", "EU AI Act Art. 12 record-keeping (logs of the system's operation over its "
                                      "lifetime); SR 11-7 documentation"],
]
METHOD = [
    "PSI (population stability index): the baseline's values cut at their deciles, each bin's share in the baseline "
    "and in production floored at 1e-4 before the logarithm, summed over the bins.",
    "KS: the exact two-sample Kolmogorov-Smirnov statistic of a numeric feature in production against the baseline.",
    "JS: the Jensen-Shannon distance, base 2 (0 to 1), between a categorical feature's shares in production and in "
    "the baseline.",
    "Score PSI: the model's score in production binned at the score deciles of the validated performance report.",
    "Performance (ROC AUC, KS, Gini, accuracy, calibration) is measured only on the rows whose outcomes have arrived, "
    "and compared with the validated performance report's values; until outcomes arrive it is not measured.",
    "Fairness: groups as the bias report defines them (age under 25 / 25 and over, unknown values as their own "
    "group); a group too small in the validated report is not compared.",
    "The model is never run here: each batch carries the model's outputs, and its rows are hashed into a Merkle "
    "tree whose root is recorded in the batch's audit entry.",
    "An evaluation with fewer rows than the plan's minimum is measured but not judged: it has no colour and "
    "triggers nothing.",
    "Values in this PDF are printed to 3 decimals, rounded so that they read as the colour they were given.",
]


def build_monitoring_report(data: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The monitoring report's JSON twin and PDF bytes; the same data always gives the same bytes."""
    twin = _twin(data)
    digest = digest_of(twin)
    story = _cover(twin, digest)
    story += _plan(twin)
    story += _baseline(twin["baseline"])
    story += _state(twin)
    story += _breaches(twin)
    story += _drift(twin["drift"], twin["directions"])
    story += [Paragraph("6. Method and limitations", H2), *[para(f"• {item}") for item in METHOD],
              Paragraph("Regulatory mapping", H2),
              table([["Section of this report", "Requirement it answers"], *MAPPING], [60 * mm, 120 * mm])]
    pdf = build(story, title=f"Monitoring report {twin['report_id']}", report_id=twin["report_id"],
                metrics_sha256=digest)
    return twin, pdf


# The JSON twin.


def _judged(metric: str, value: Any, directions: dict[str, str], digits: int = 6) -> float | None:
    """A value the plan judges, rounded so it keeps its colour as written (see the module's docstring)."""
    direction = directions.get(metric)
    if direction == "above":
        return num_toward(value, ">=", digits)
    if direction == "below":
        return num_toward(value, "<=", digits)
    rounded = num(value)
    return None if rounded is None else round(rounded, digits) + 0.0


def _rounded(f: dict[str, Any], directions: dict[str, str]) -> dict[str, Any]:
    """A measurement or finding with its numbers written as the twin writes them."""
    return {**clean(f), "value": _judged(f["metric"], f.get("value"), directions)}


def _evaluation(e: dict[str, Any], directions: dict[str, str]) -> dict[str, Any]:
    return {**clean(e), "measurements": [_rounded(m, directions) for m in e.get("measurements", [])],
            "findings": [_rounded(f, directions) for f in e.get("findings", [])]}


def _series(plan: dict[str, Any], directions: dict[str, str], evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """Per thresholded metric, each succeeded evaluation's worst value of it (its subject and colour; colour ""
    where the evaluation was not judged); an evaluation that did not measure the metric has no point."""
    series: dict[str, Any] = {}
    for metric in plan["metrics"]:
        points = []
        for e in evaluations:
            values = [f for f in e["findings"] if f["metric"] == metric and f["value"] is not None]
            if e["status"] != "succeeded" or not values:
                continue
            below = directions.get(metric) == "below"
            worst = min(values, key=lambda f: f["value"]) if below else max(values, key=lambda f: f["value"])
            points.append({"evaluation": e["id"], "at": e["created_at"], "subject": worst["subject"],
                           "value": worst["value"], "colour": worst["colour"] if e["colour"] else ""})
        series[metric] = points
    return series


def _latest_drift(evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """Each feature's PSI and KS or JS in the latest succeeded evaluation that measured features, with the worst
    colour the plan gave that feature (None where no feature metric of it is thresholded)."""
    for e in reversed(evaluations):
        measured = [m for m in e["measurements"] if m["metric"] in ("feature_psi", "feature_ks", "feature_js")]
        if e["status"] != "succeeded" or not measured:
            continue
        features: dict[str, dict[str, Any]] = {}
        for m in measured:
            row = features.setdefault(str(m["subject"]), {"feature": str(m["subject"]), "psi": None, "ks": None,
                                                          "js": None, "colour": None})
            row[m["metric"].removeprefix("feature_")] = m["value"]
        order = ("green", "amber", "red")
        for f in e["findings"]:
            row = features.get(str(f["subject"]), {})
            if f["metric"].startswith("feature_") and row:
                row["colour"] = max([row["colour"] or "green", f["colour"]], key=order.index)
        return {"evaluation": e["id"], "judged": bool(e["colour"]), "features": list(features.values())}
    return {"evaluation": None, "judged": False, "features": []}


def _twin(data: dict[str, Any]) -> dict[str, Any]:
    directions = {str(k): str(v) for k, v in data.get("directions", {}).items()}
    plan = clean(data["plan"])
    evaluations = [_evaluation(e, directions) for e in data.get("evaluations", [])]
    return {
        "kind": "monitoring", "report_id": data["report_id"], "generated_at": data["generated_at"],
        "subject": clean(data["subject"]), "window": clean(data["window"]),
        "plan": plan, "directions": {m: directions.get(m) for m in plan["metrics"]},
        "baseline": clean(data["baseline"]), "evaluations": evaluations,
        "breaches": [{**clean(b), "findings": [_rounded(f, directions) for f in b.get("findings", [])]}
                     for b in data.get("breaches", [])],
        "series": _series(plan, directions, evaluations), "drift": _latest_drift(evaluations),
        "audit_head": clean(data["audit_head"]), "checkpoint": clean(data.get("checkpoint")),
        "software": clean(data.get("software", {})),
    }


# The PDF.


def _when(value: str | None, zone: str = " UTC") -> str:
    """An ISO 8601 instant in UTC, to the minute; a text without an offset is read as UTC."""
    if not value:
        return "—"
    moment = dt.datetime.fromisoformat(value)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") + zone


def _shown(metric: str, value: Any, directions: dict[str, str]) -> str:
    shown = _judged(metric, value, directions, 3)
    return "n/a" if shown is None else f"{shown:.3f}"


def _plain(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _bound(value: Any) -> str:
    """A threshold as the plan writes it."""
    return "—" if value is None else str(value)


def _cover(twin: dict[str, Any], digest: str) -> list[Any]:
    s, base = twin["subject"], twin["baseline"]
    ds = base.get("evaluation_dataset")
    digests = {f"baseline evaluation dataset #{ds['id']} ({ds.get('name', '')})": ds["sha256"]} if ds else {
        "baseline evaluation dataset": "none: the version's approval was bound to no report measured on one"}
    for kind, r in sorted((base.get("reports") or {}).items()):
        if r:
            digests[f"validated {kind} report #{r['id']} (JSON)"] = r["json_sha256"]
    generated = dt.datetime.fromisoformat(twin["generated_at"])
    info = CoverInfo(model_name=s["model_name"], model_title=s["model_title"], version=s["version"],
                     stage=s["stage"], risk_tier=s["risk_tier"], eu_ai_act_category=s["eu_ai_act_category"],
                     owner=s["owner"], intended_use=s["intended_use"], report_kind="Monitoring",
                     report_id=twin["report_id"],
                     generated_at=generated if generated.tzinfo else generated.replace(tzinfo=dt.UTC),
                     input_digests=digests, metrics_sha256=digest, software=twin["software"],
                     audit_head=twin["audit_head"], checkpoint=twin["checkpoint"])
    story = cover(info, f"Monitoring report — {s['model_name']} v{s['version']}")
    colours = [e["colour"] for e in twin["evaluations"] if e["status"] == "succeeded" and e["colour"]]
    window = [["From", _when(twin["window"]["start"])], ["To", _when(twin["window"]["end"])],
              ["Evaluations", f"{len(twin['evaluations'])} ({len(colours)} judged)"],
              ["Latest colour", colours[-1].upper() if colours else "none judged yet"],
              ["Breaches", len(twin["breaches"])]]
    # Before the cover's closing page break: the window is part of what the cover states.
    story[-1:-1] = [Paragraph("Monitoring window", H2), table(window, [45 * mm, 125 * mm], header=False)]
    return story


def _plan(twin: dict[str, Any]) -> list[Any]:
    plan, directions = twin["plan"], twin["directions"]
    rows = [["Metric", "What it measures", "Worse when", "Amber at", "Red at"]]
    for metric, bounds in plan["metrics"].items():
        op, worse = {"above": ("≥ ", "higher"), "below": ("≤ ", "lower")}.get(directions.get(metric) or "", ("", "—"))
        rows.append([metric, DESCRIPTIONS.get(metric, metric), worse, f"{op}{bounds['amber']}", f"{op}{bounds['red']}"])
    on_red = plan.get("on_red", "")
    return [Paragraph("1. The monitoring plan", H2),
            para("The plan of the policy rule in force for the model's risk tier. Each measurement it names is "
                 "coloured green, amber or red against these thresholds; an evaluation's colour is its worst."),
            table(rows, [38 * mm, 72 * mm, 20 * mm, 25 * mm, 25 * mm]), Spacer(1, 2 * mm),
            table([["Minimum rows for a judgement", f"{plan.get('min_batch_rows')} rows"],
                   ["Window measured on the schedule", f"{plan.get('window_days')} days"],
                   ["Cadence", f"every {plan.get('cadence_days')} days"],
                   ["Silence", f"amber after {plan.get('max_silence_days')} days without a batch"],
                   ["Amber", "notifies the model's owner and its validators"],
                   ["Red", f"{on_red}: {ON_RED.get(on_red, 'as the plan says')}"]], [60 * mm, 120 * mm],
                  header=False)]


def _baseline(base: dict[str, Any]) -> list[Any]:
    ds = base.get("evaluation_dataset")
    rows = [["Baseline", "Id", "SHA-256"], [f"Evaluation dataset version {ds.get('name', '')}", ds["id"], ds["sha256"]]
            if ds else ["Evaluation dataset version: none (no validated report measured on one)", "-", "-"]]
    for kind, r in sorted((base.get("reports") or {}).items()):
        rows.append([f"Validated {kind} report (JSON)", r["id"], r["json_sha256"]] if r
                    else [f"Validated {kind} report", "—", "none"])
    bound = base.get("request_id")
    return [Paragraph("2. The baseline", H2),
            para("Production batches are measured against what the approval was bound to"
                 + (f" (promotion request #{bound})" if bound is not None else "") + ": the evaluation dataset "
                 "version the version was validated on and the validated reports, each by its digest."),
            table(rows, [58 * mm, 14 * mm, 108 * mm])]


def _scope(e: dict[str, Any]) -> str:
    b = e.get("batch")
    if b:
        return f"batch #{b['id']} (no. {b['number']})"
    return f"window {_when(e.get('window_start'))} to {_when(e.get('window_end'))}"


def _colour(e: dict[str, Any]) -> str:
    if e["status"] != "succeeded":
        return f"FAILED: {e.get('error') or 'no reason recorded'}"
    return e["colour"].upper() if e["colour"] else "not judged (too few rows)"


def _state(twin: dict[str, Any]) -> list[Any]:
    story: list[Any] = [Paragraph("3. State over time", H2)]
    evaluations = twin["evaluations"]
    if not evaluations:
        return [*story, para("No evaluations in this window: nothing has been measured yet, so no metric has a "
                             "value and no colour has been given.")]
    story.append(para("Each chart shows, for one metric of the plan, the worst value each evaluation measured "
                      "(highest where higher is worse, lowest where lower is worse), coloured as the evaluation "
                      "judged it, against the amber and red thresholds (dashed)."))
    cells, missing = [], []
    for metric, points in twin["series"].items():
        if not points:
            missing.append(metric)
            continue
        chart = metric_over_time(metric, DESCRIPTIONS.get(metric, ""), points, twin["plan"]["metrics"][metric],
                                 twin["directions"].get(metric) or "above")
        cells.append(image(chart, 88 * mm))
    if cells:
        story.append(Table([cells[i:i + 2] for i in range(0, len(cells), 2)], colWidths=[90 * mm, 90 * mm]))
    story += [para(f"• {m} ({DESCRIPTIONS.get(m, m)}): no value yet — no evaluation has measured it"
                   + (" (it needs outcomes to arrive)" if m.endswith("_drop") or m == "expected_calibration_error"
                      else "") + ".") for m in missing]
    rows = [["#", "Made (UTC)", "Batch or window", "Rows", "Labelled", "Colour", "Worst finding"]]
    for e in evaluations:
        worst = e["findings"][0] if e["findings"] else None
        rows.append([e["id"], _when(e["created_at"], ""), _scope(e), e.get("rows", 0), e.get("labelled_rows", 0),
                     _colour(e), "—" if worst is None else f"{worst['metric']} of {worst['subject']} = "
                     f"{_shown(worst['metric'], worst['value'], twin['directions'])}"])
    digests = [[e["id"], Paragraph(_digests(e), DIGESTS)] for e in evaluations]
    return [*story, Paragraph("Evaluations", H3),
            table(rows, [10 * mm, 27 * mm, 33 * mm, 15 * mm, 17 * mm, 33 * mm, 45 * mm]),
            Paragraph("What each evaluation measured, by digest", H3),
            table([["#", "Batch SHA-256, its rows' Merkle root, and the SHA-256 of the evaluation's results"],
                   *digests], [10 * mm, 170 * mm])]


def _digests(e: dict[str, Any]) -> str:
    b = e.get("batch")
    lines = [f"batch {text(b['sha256'])}", f"Merkle root {text(b['merkle_root'])}"] if b else ["no single batch"]
    lines.append(f"results {text(e.get('results_sha256') or 'none (failed)')}")
    return "<br/>".join(lines)


def _findings_table(findings: list[dict[str, Any]], directions: dict[str, str]) -> Any:
    rows = [["Metric", "Subject", "Value", "Validated", "Amber at", "Red at", "Colour"]]
    for f in findings:
        rows.append([f["metric"], f["subject"], _shown(f["metric"], f["value"], directions), _plain(f.get("baseline")),
                     _bound(f.get("amber")), _bound(f.get("red")), str(f.get("colour", "")).upper()])
    return table(rows, [42 * mm, 38 * mm, 20 * mm, 20 * mm, 20 * mm, 20 * mm, 20 * mm])


def _triggered(b: dict[str, Any]) -> str:
    template = CONSEQUENCES.get(b["consequence"])
    did = template.format(request=b.get("request"), hold=b.get("hold")) if template else str(b["consequence"])
    return f"{did}; notified: " + (", ".join(b["notified"]) if b.get("notified") else "nobody")


def _breaches(twin: dict[str, Any]) -> list[Any]:
    story: list[Any] = [Paragraph("4. Breaches", H2)]
    if not twin["breaches"]:
        return [*story, para("No breach: no evaluation in this window was amber or red.")]
    for b in twin["breaches"]:
        story += [Paragraph(f"Breach #{b['id']}: {text(b['colour']).upper()} at evaluation #{b['evaluation']}, "
                            f"{_when(b.get('created_at'))}", H3),
                  para(f"Triggered: {_triggered(b)}."), _findings_table(b.get("findings", []), twin["directions"]),
                  Spacer(1, 3 * mm)]
    return story


def _drift(drift: dict[str, Any], directions: dict[str, str]) -> list[Any]:
    story: list[Any] = [Paragraph("5. Per-feature drift of the latest evaluation", H2)]
    if drift["evaluation"] is None:
        return [*story, para("No evaluation has measured the features yet.")]
    rows = [["Feature", "PSI", "KS or JS", "Colour"]]
    for f in drift["features"]:
        other = (f"KS {_shown('feature_ks', f['ks'], directions)}" if f["ks"] is not None
                 else f"JS {_shown('feature_js', f['js'], directions)}" if f["js"] is not None else "n/a")
        colour = (f["colour"].upper() if f["colour"] else "not thresholded") if drift["judged"] else "not judged"
        rows.append([f["feature"], _shown("feature_psi", f["psi"], directions), other, colour])
    return [*story, para(f"Evaluation #{drift['evaluation']}: each feature's PSI against the baseline, and its KS "
                         "statistic (numbers) or Jensen-Shannon distance (categories); the colour is the worst the "
                         "plan gave the feature."), table(rows, [60 * mm, 30 * mm, 40 * mm, 50 * mm])]
