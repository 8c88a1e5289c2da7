"""The lineage report's facts, from the registry and from the audit log (the record of approvals and stages)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from audit.models import AuditEntry
from registry.models import DatasetVersion, ModelVersion
from reports import claims
from reports.models import Report

DECISIONS = ("governance.approval.approve", "governance.approval.reject")
STAGE_CHANGE = "registry.modelversion.stage_change"


def _parsed(rows: Any) -> list[dict[str, Any]]:
    return [{**json.loads(bytes(e.canonical)), "hash": e.hash} for e in rows.only("canonical", "hash").order_by("seq")]


def _history(object_type: str, ids: Iterable[Any], up_to: int) -> list[dict[str, Any]]:
    """Every entry about these objects up to `up_to`, oldest first (served by the object index)."""
    keys = sorted({str(i) for i in ids})
    if not keys:
        return []
    return _parsed(AuditEntry.objects.filter(object_type=object_type, object_id__in=keys, seq__lte=up_to))


def _by_action(actions: Iterable[str], up_to: int) -> list[dict[str, Any]]:
    return _parsed(AuditEntry.objects.filter(action__in=list(actions), seq__lte=up_to))


def _new(entry: dict[str, Any], field: str) -> Any:
    change = entry["changes"].get(field)
    return change.get("new") if isinstance(change, dict) else None


def _states(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each object's fields as its entries left them: what the log says it was at the last entry read."""
    states: dict[str, dict[str, Any]] = {}
    for e in entries:
        state = states.setdefault(e["object"]["id"], {})
        state.update({k: v["new"] for k, v in e["changes"].items() if isinstance(v, dict) and "new" in v})
    return states


def _dataset(role: str, d: DatasetVersion, state: dict[str, Any]) -> dict[str, Any]:
    # Provenance and licence can be edited later; the report shows them as they stood at the frozen head.
    return {"role": role, "name": d.dataset.name, "version": d.version, "sha256": d.sha256, "rows": d.row_count,
            "schema": d.schema, "target": d.target_column, "positive_label": d.positive_label,
            "provenance": state.get("provenance", d.provenance),
            "licence": state.get("licence", d.licence)}


def _datasets(version: ModelVersion, up_to: int) -> list[dict[str, Any]]:
    roles = [("training", d) for d in version.training_datasets.select_related("dataset").order_by("id")]
    roles += [("evaluation", d) for d in version.evaluation_datasets.select_related("dataset").order_by("id")]
    states = _states(_history("registry.datasetversion", (d.pk for _, d in roles), up_to))
    return [_dataset(role, d, states.get(str(d.pk), {})) for role, d in roles]


def _parents(version: ModelVersion, up_to: int) -> list[dict[str, Any]]:
    chain: list[ModelVersion] = []
    seen = {version.pk}
    current = version.parent
    while current is not None and current.pk not in seen:
        seen.add(current.pk)
        chain.append(current)
        current = ModelVersion.objects.select_related("model", "parent").get(pk=current.pk).parent
    states = _states(_history("registry.modelversion", (p.pk for p in chain), up_to))
    return [{"id": p.pk, "model": p.model.name, "version": p.version,
             "stage": states.get(str(p.pk), {}).get("stage", p.stage), "artifact_sha256": p.artifact_sha256}
            for p in chain]


def _requests(version: ModelVersion, up_to: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The version's promotion requests as of `up_to`, and every entry about them."""
    created = [e for e in _by_action(["governance.promotionrequest.create"], up_to)
               if _new(e, "version") == version.pk]
    history = _history("governance.promotionrequest", (e["object"]["id"] for e in created), up_to)
    states = _states(history)
    # A decided request's gate results and the evidence at its decision, as the decision froze them (empty for a
    # request still open at `up_to`, or decided before they were kept).
    requests = [{"id": int(e["object"]["id"]), "target_stage": _new(e, "target_stage"),
                 "status": states[e["object"]["id"]].get("status"), "seq": e["seq"], "hash": e["hash"],
                 "gates": states[e["object"]["id"]].get("decision_gates") or [],
                 "evidence_at_decision": states[e["object"]["id"]].get("decision_evidence") or {}}
                for e in created]
    return requests, history


def _approvals(request_ids: set[int], up_to: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each decision on those requests with everything it was bound to, and every entry about the approvals."""
    decided = [e for e in _by_action(DECISIONS, up_to) if _new(e, "request") in request_ids]
    history = _history("governance.approval", (e["object"]["id"] for e in decided), up_to)
    states = _states(history)
    approvals = [{"request": _new(e, "request"), "who": e["actor"]["name"], "role": _new(e, "role"),
                  "decision": _new(e, "decision"), "when": e["ts"], "comment": _new(e, "comment") or "",
                  "artifact_sha256": _new(e, "artifact_sha256"), "evidence_digests": _new(e, "evidence_digests") or {},
                  "lapse_reason": states[e["object"]["id"]].get("lapse_reason") or "", "seq": e["seq"],
                  "hash": e["hash"]} for e in decided]
    return approvals, history


def _reports(version: ModelVersion, up_to: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The version's reports that had succeeded by `up_to`, and every entry about its reports."""
    history = _history("reports.report", Report.objects.filter(version=version).values_list("pk", flat=True), up_to)
    states = _states(history)
    reports = [{"id": int(pk), "kind": s.get("kind"), "verdict": s.get("verdict"), "pdf_sha256": s.get("pdf_sha256"),
                "json_sha256": s.get("json_sha256")}
               for pk, s in states.items() if s.get("status") == "succeeded"]
    return sorted(reports, key=lambda r: r["id"]), history


def _metric_claims(version: ModelVersion, reports: list[dict[str, Any]], tolerance: float) -> dict[str, Any]:
    """The declared metrics beside the latest performance report that had succeeded by the frozen head. A
    report's numbers never change once it has succeeded, and a version's declared metrics never change."""
    performance = [r for r in reports if r["kind"] == "performance"]
    measured: dict[str, Any] = {}
    if performance:
        stored = Report.objects.filter(pk=performance[-1]["id"]).values_list("metrics", flat=True).first() or {}
        measured = stored.get("metrics") or {}
    return {"performance_report": performance[-1]["id"] if performance else None, "tolerance": tolerance,
            "metrics": claims.compare(version.metrics, measured, tolerance)}


def build_lineage(version: ModelVersion, *, up_to_seq: int, tolerance: float) -> dict[str, Any]:
    """Everything the lineage report shows, read from the log up to `up_to_seq` so a re-run is identical."""
    own = _history("registry.modelversion", [version.pk], up_to_seq)
    reports, report_entries = _reports(version, up_to_seq)
    requests, request_entries = _requests(version, up_to_seq)
    approvals, approval_entries = _approvals({r["id"] for r in requests}, up_to_seq)
    # Evidence a decision that stands was bound to; any other report is shown as not reviewed by one.
    bound = {d.get("report_id") for a in approvals if not a["lapse_reason"]
             for d in a["evidence_digests"].values() if isinstance(d, dict)}
    for r in reports:
        r["reviewed"] = r["id"] in bound
    extract = own + report_entries + request_entries + approval_entries
    return {
        "datasets": _datasets(version, up_to_seq),
        "model_version": {
            "id": version.pk, "version": version.version, "artifact_sha256": version.artifact_sha256,
            "artifact_size": version.artifact_size, "artifact_format": version.artifact_format,
            "framework": version.framework, "framework_version": version.framework_version,
            "code_repository": version.code_repository, "code_commit": version.code_commit,
            "python_version": version.python_version, "packages": version.packages,
            "hyperparameters": version.hyperparameters,
        },
        "parents": _parents(version, up_to_seq),
        "reports": reports,
        "metric_claims": _metric_claims(version, reports, tolerance),
        "promotion_requests": requests,
        "approvals": approvals,
        "stage_changes": [{"seq": e["seq"], "hash": e["hash"], "ts": e["ts"],
                           "old": e["changes"]["stage"]["old"], "new": e["changes"]["stage"]["new"],
                           "request": _new(e, "promotion_request")}
                          for e in own if e["action"] == STAGE_CHANGE and "stage" in e["changes"]],
        "audit_entries": [{"seq": e["seq"], "ts": e["ts"], "action": e["action"], "object": e["object"],
                           "hash": e["hash"]} for e in sorted(extract, key=lambda e: e["seq"])],
    }


def signoffs(version: ModelVersion, *, up_to_seq: int) -> list[dict[str, Any]]:
    """Approvals recorded up to `up_to_seq` for the version, as the report's sign-off block lists them."""
    requests, _ = _requests(version, up_to_seq)
    approvals, _ = _approvals({r["id"] for r in requests}, up_to_seq)
    return [{"who": a["who"], "role": a["role"], "when": a["when"], "decision": a["decision"],
             "comment": a["comment"]} for a in approvals]
