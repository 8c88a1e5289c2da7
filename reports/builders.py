"""From a queued report to its numbers, charts and PDF: bias, explainability, performance and lineage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from audit import proofs
from audit.format.jcs import digest_of
from audit.verification import verify_log
from registry.models import DatasetVersion
from registry.sandbox import skops_types
from registry.sandbox.runner import trusted_types
from reports import charts, claims, lineage, loading, services
from reports.bias import BiasThresholds, compute_bias
from reports.errors import ReportInputError
from reports.models import Report, ReportKind
from reports.pdf.bias import render_bias
from reports.pdf.document import CoverInfo
from reports.pdf.explain import render_explain
from reports.pdf.lineage import render_lineage
from reports.pdf.performance import render_performance
from reports.performance import compute_performance, judge


def _sandbox(report: Report, model: loading.SandboxedModel | None) -> dict[str, str]:
    """The cover's account of how the artifact was run: the skops allowlist at the request, and the isolation."""
    rows = {"skops trusted types (SHA-256 of the list)": str(report.config.get(
        "skops_trusted_types_sha256", "not recorded with this request"))}
    if model is not None:
        rows.update({f"isolation: {k}": v for k, v in model.isolation.items()})
    return rows


def _check_trusted_types(report: Report) -> None:
    recorded = report.config.get("skops_trusted_types_sha256")
    here = skops_types.digest(trusted_types())
    if recorded is not None and recorded != here:
        # The cover names the list recorded at the request: a worker trusting other types would belie it.
        raise ReportInputError(f"this worker's skops trusted types (SHA-256 {here}) differ from those recorded "
                               f"when the report was requested ({recorded}): give workers the same "
                               "REGISTRY_SKOPS_EXTRA_TRUSTED_TYPES as the web processes, then request it again")


def _cover(report: Report, metrics: dict[str, Any], extra: dict[str, str] | None = None,
           sandbox: dict[str, str] | None = None) -> CoverInfo:
    # A report requested before subjects were frozen shows the model as it is when computed.
    subject = report.config.get("subject") or services.report_subject(report.version)
    return CoverInfo(
        model_name=subject["model_name"], model_title=subject["model_title"], version=subject["version"],
        stage=subject["stage"], risk_tier=subject["risk_tier"], eu_ai_act_category=subject["eu_ai_act_category"],
        owner=subject["owner"], intended_use=subject["intended_use"],
        report_kind=report.get_kind_display(), report_id=report.pk, generated_at=report.created_at,
        input_digests={k.replace("_sha256", ""): v for k, v in sorted(report.inputs.items())},
        metrics_sha256=digest_of(metrics),
        software=report.config["software"], audit_head=report.config["audit_head"],
        checkpoint=report.config.get("checkpoint"), extra=extra or {}, sandbox=sandbox or _sandbox(report, None),
    )


def build(report: Report, *, progress: Callable[[int], None]) -> tuple[dict[str, Any], bytes]:
    up_to = int(report.config["audit_head"]["seq"])
    signoffs = lineage.signoffs(report.version, up_to_seq=up_to)
    if report.kind == ReportKind.LINEAGE:
        return _lineage(report, up_to, signoffs, progress)
    dataset = report.evaluation_dataset
    assert dataset is not None
    _check_trusted_types(report)
    frame = loading.load_frame(dataset)
    cfg = report.config
    if report.kind == ReportKind.PERFORMANCE:
        with loading.load_model(report.version) as model:
            X, y = loading.features_and_labels(model, frame, dataset, cfg.get("labels"))
            progress(20)
            predictions = loading.predict(model, X)
            sandbox = _sandbox(report, model)
        return _performance(report, dataset, predictions, y, sandbox, signoffs, progress)
    with loading.load_model(report.version) as model:
        if report.kind == ReportKind.BIAS:
            X, y = loading.features_and_labels(model, frame, dataset, cfg.get("labels"))
            progress(20)
            sensitive = loading.sensitive_frame(frame, dataset)
            y_pred, y_score = loading.predict(model, X, loading.positive_label(cfg.get("labels"), dataset))
            progress(40)
            metrics = compute_bias(y_true=y, y_pred=y_pred, y_score=y_score, sensitive=sensitive,
                                   thresholds=BiasThresholds.from_dict(cfg.get("bias_thresholds")), seed=cfg["seed"],
                                   n_boot=cfg["n_boot"], min_group_size=cfg["min_group_size"],
                                   min_group_share=cfg["min_group_share"])
        else:
            # An explanation needs the model's inputs only: data without labels, or with labels of any kind.
            X = loading.features(model, frame, dataset)
            progress(20)
            metrics, arrays = loading.explain(model, X, seed=cfg["seed"], background_size=cfg["background_size"],
                                              n_explain=cfg["n_explain"], n_local=cfg["n_local"],
                                              n_stability=cfg["n_stability"],
                                              positive=loading.declared_positive(cfg.get("labels"), dataset))
        sandbox = _sandbox(report, model)
    metrics = {**metrics, "sandbox": sandbox}  # the JSON twin says how the artifact was run, as the cover does
    if report.kind == ReportKind.BIAS:
        progress(80)
        chart_set = {f"rates:{a['attribute']}": charts.group_rates(a, metrics["thresholds"])
                     for a in metrics["attributes"] + metrics["intersections"]}
        extra = {"sensitive_source": f"columns {', '.join(dataset.sensitive_columns)} of {dataset}",
                 "group_definitions": "Numeric age is bucketed into 'under 25' and '25 and over'; other attributes "
                                      "use their recorded values; missing or 'not known' values form 'unknown'.",
                 "labels": loading.describe_labels(cfg.get("labels"), dataset)}
        return metrics, render_bias(_cover(report, metrics, extra, sandbox), metrics, chart_set, signoffs)
    progress(70)
    order = [arrays.features.index(g["feature"]) for g in metrics["global_importance"]]
    chart_set = {
        "importance": charts.importance_bar([arrays.features[i] for i in order],
                                            [float(np.abs(arrays.shap_values[:, i]).mean()) for i in order]),
        "beeswarm": charts.beeswarm(arrays.features, arrays.shap_values, arrays.values, order, cfg["seed"]),
    }
    for i in order[:3]:
        chart_set[f"dependence:{arrays.features[i]}"] = charts.dependence(
            arrays.features[i], arrays.shap_values[:, i], arrays.values.iloc[:, i].tolist())
    for case in metrics["local"]:
        chart_set[f"waterfall:{case['row']}"] = charts.waterfall(case, arrays.base_value)
    return metrics, render_explain(_cover(report, metrics, sandbox=sandbox), metrics, chart_set, signoffs)


def _performance(report: Report, dataset: DatasetVersion, predictions: tuple[np.ndarray, np.ndarray | None],
                 y: np.ndarray, sandbox: dict[str, str], signoffs: list[dict[str, Any]],
                 progress: Callable[[int], None]) -> tuple[dict[str, Any], bytes]:
    y_pred, y_score = predictions
    progress(40)
    cfg = report.config
    measured = compute_performance(y_true=y, y_pred=y_pred, y_score=y_score, seed=cfg["seed"], n_boot=cfg["n_boot"])
    metrics = judge(measured, cfg.get("metric_thresholds"))
    # The tolerance frozen with the request: a retry flags exactly what the first attempt flagged.
    tol = float(cfg.get("metric_tolerance", claims.tolerance()))
    metrics["tolerance"] = tol
    metrics["declared"] = claims.compare(report.version.metrics, metrics["metrics"], tol)
    metrics["sandbox"] = sandbox  # the JSON twin says how the artifact was run, as the cover does
    progress(80)
    chart_set = {}
    if y_score is not None and metrics["metrics"]["roc_auc"]["value"] is not None:  # scores, and both classes
        chart_set["curves"] = charts.performance_curves(y, y_score, metrics)
    extra = {"evaluation_source": f"dataset version {dataset}",
             "labels": loading.describe_labels(cfg.get("labels"), dataset)}
    return metrics, render_performance(_cover(report, metrics, extra, sandbox), metrics, chart_set, signoffs)


def _lineage(report: Report, up_to: int, signoffs: list[dict[str, Any]],
             progress: Callable[[int], None]) -> tuple[dict[str, Any], bytes]:
    metrics = lineage.build_lineage(report.version, up_to_seq=up_to,
                                    tolerance=float(report.config.get("metric_tolerance", claims.tolerance())))
    progress(40)
    run = verify_log()
    # The run checks the log as it stands now, which grows with every attempt (the run itself is logged):
    # its entry count would make a retry's bytes differ. The report binds what is the same on every
    # attempt: whether the whole chain verified (so every entry up to the frozen head did), and where it broke.
    metrics["chain_verification"] = {"ok": run.ok, "head_seq": up_to, "rule": run.rule, "failed_seq": run.failed_seq}
    cp = report.config.get("checkpoint")
    metrics["checkpoint"] = cp
    for entry in metrics["audit_entries"]:
        # The whole proof document, as `python -m audit.verifier --proof` takes it, so each is checkable as is.
        entry["inclusion_proof"] = (proofs.inclusion(seq=entry["seq"], size=cp["size"])
                                    if cp and entry["seq"] <= cp["size"] else None)
    progress(70)
    return metrics, render_lineage(_cover(report, metrics), metrics, {}, signoffs)
