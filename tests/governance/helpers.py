"""Building blocks for governance tests: people in roles, a version with evidence, report rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from audit import writer
from audit.context import audit_context, system_actor
from reports.models import Report
from reports.services import report_succeed
from tests.factories import make_model, make_version


def add_report(version: Any, kind: str, verdict: str = "pass", *, finished_at: dt.datetime | None = None,
               digest: str = "a", artifact: str | None = None) -> Report:
    """A succeeded report of `kind`. Made as a worker makes one (reports.services.report_succeed, which governance
    reacts to in its transaction), unless `finished_at` backdates it: that row is written as it stands."""
    sha = (digest * 64)[:64]
    metrics = {"verdict": verdict, "overall": {"roc_auc": 0.8}}
    with audit_context(actor=system_actor("test evidence"), channel="task"):
        report = Report(version=version, kind=kind, inputs={"artifact_sha256": artifact or version.artifact_sha256})
        if finished_at is not None:
            report.status, report.verdict, report.progress, report.finished_at = "succeeded", verdict, 100, finished_at
            report.pdf_sha256 = report.json_sha256 = sha
            report.metrics = metrics
        writer.save(report)
        if finished_at is None:
            report = report_succeed(report_id=report.pk, metrics=metrics, json_name="", json_sha256=sha, pdf_name="",
                                    pdf_sha256=sha)
    return report


def full_evidence(version: Any, verdict: str = "pass") -> None:
    for kind in ("bias", "explainability", "lineage"):
        add_report(version, kind, verdict if kind == "bias" else "info")


class People:
    def __init__(self, make_user: Any) -> None:
        self.dev = make_user("dev", "model developer")
        self.dev2 = make_user("dev2", "model developer")
        self.val = make_user("val", "model validator")
        self.val2 = make_user("val2", "model validator")
        self.risk = make_user("risk", "risk officer")
        self.comp = make_user("comp", "compliance officer")
        self.multi = make_user("multi", "model validator", "risk officer")
        self.aud = make_user("aud", "auditor")
        self.gov = make_user("gov", "governance admin", is_staff=True)
        self.root = make_user("root", superuser=True)


def version_for(people: People, tier: str = "high", **fields: Any) -> Any:
    model = make_model(people.dev, fields.pop("name", "pd"), risk_tier=tier, developers=[people.dev2])
    return make_version(model, people.dev, metrics=fields.pop("metrics", {"roc_auc": 0.82}), **fields)
