"""The lineage report's facts, from the registry and from the audit log (the record of approvals and stages)."""

from __future__ import annotations

import json
from typing import Any

from audit.models import AuditEntry
from registry.models import DatasetVersion, ModelVersion
from registry.selectors import version_lineage
from reports.models import Report, ReportStatus


def _entries(object_type: str, up_to: int) -> list[dict[str, Any]]:
    rows = AuditEntry.objects.filter(object_type=object_type, seq__lte=up_to).order_by("seq")
    return [{**json.loads(bytes(e.canonical)), "hash": e.hash} for e in rows.only("canonical", "hash")]


def _new(entry: dict[str, Any], field: str) -> Any:
    change = entry["changes"].get(field)
    return change.get("new") if isinstance(change, dict) else None


def _dataset(role: str, d: DatasetVersion) -> dict[str, Any]:
    return {"role": role, "name": d.dataset.name, "version": d.version, "sha256": d.sha256, "rows": d.row_count,
            "schema": d.schema, "provenance": d.provenance, "licence": d.licence}


def build_lineage(version: ModelVersion, *, up_to_seq: int, exclude_report: int | None = None) -> dict[str, Any]:
    """Everything the lineage report shows, read from the log up to `up_to_seq` so a re-run is identical."""
    up = version_lineage(version)
    datasets = [_dataset("training", d) for d in version.training_datasets.select_related("dataset")]
    datasets += [_dataset("evaluation", d) for d in version.evaluation_datasets.select_related("dataset")]
    reports = [
        {"id": r.pk, "kind": r.kind, "verdict": r.verdict, "pdf_sha256": r.pdf_sha256, "json_sha256": r.json_sha256}
        for r in Report.objects.filter(version=version, status=ReportStatus.SUCCEEDED).exclude(pk=exclude_report or 0)
        .order_by("id")
    ]
    requests = [e for e in _entries("governance.promotionrequest", up_to_seq)
                if e["action"] == "governance.promotionrequest.create" and _new(e, "version") == version.pk]
    request_ids = {int(e["object"]["id"]) for e in requests}
    status = {int(e["object"]["id"]): _new(e, "status") for e in _entries("governance.promotionrequest", up_to_seq)
              if int(e["object"]["id"]) in request_ids and _new(e, "status")}
    approvals = [e for e in _entries("governance.approval", up_to_seq)
                 if e["action"] in ("governance.approval.approve", "governance.approval.reject")
                 and _new(e, "request") in request_ids]
    stage = [e for e in _entries("registry.modelversion", up_to_seq)
             if e["action"] == "registry.modelversion.stage_change" and e["object"]["id"] == str(version.pk)]
    own = AuditEntry.objects.filter(object_type="registry.modelversion", object_id=str(version.pk),
                                    seq__lte=up_to_seq).order_by("seq")
    audit_entries = [{"seq": e.seq, "ts": e.as_json()["ts"], "action": e.action, "hash": e.hash} for e in own]
    audit_entries += [{"seq": e["seq"], "ts": e["ts"], "action": e["action"], "hash": e["hash"]}
                      for e in requests + approvals]
    return {
        "datasets": datasets,
        "model_version": {
            "id": version.pk, "version": version.version, "artifact_sha256": version.artifact_sha256,
            "artifact_size": version.artifact_size, "artifact_format": version.artifact_format,
            "framework": version.framework, "framework_version": version.framework_version,
            "code_repository": version.code_repository, "code_commit": version.code_commit,
            "python_version": version.python_version, "packages": version.packages,
            "hyperparameters": version.hyperparameters,
        },
        "parents": up["parents"],
        "reports": reports,
        "promotion_requests": [{"id": int(e["object"]["id"]), "target_stage": _new(e, "target_stage"),
                                "status": status.get(int(e["object"]["id"])), "seq": e["seq"], "hash": e["hash"]}
                               for e in requests],
        "approvals": [{"request": _new(e, "request"), "who": e["actor"]["name"], "role": _new(e, "role"),
                       "decision": _new(e, "decision"), "when": e["ts"], "comment": _new(e, "comment") or "",
                       "digests": {k: v.get("json_sha256", "") for k, v in (_new(e, "evidence_digests") or {}).items()},
                       "seq": e["seq"], "hash": e["hash"]} for e in approvals],
        "stage_changes": [{"seq": e["seq"], "hash": e["hash"], "ts": e["ts"],
                           "old": e["changes"]["stage"]["old"], "new": e["changes"]["stage"]["new"],
                           "request": _new(e, "promotion_request")} for e in stage if "stage" in e["changes"]],
        "audit_entries": sorted(audit_entries, key=lambda e: e["seq"]),
    }


def signoffs(version: ModelVersion, *, up_to_seq: int) -> list[dict[str, Any]]:
    """Approvals recorded so far for the version, as the report's sign-off block lists them."""
    return [{"who": a["who"], "role": a["role"], "when": a["when"], "decision": a["decision"],
             "comment": a["comment"]} for a in build_lineage(version, up_to_seq=up_to_seq)["approvals"]]
