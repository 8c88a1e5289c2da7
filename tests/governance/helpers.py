"""Building blocks for governance tests: people in roles, a version with evidence, report rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from audit import writer
from audit.context import audit_context, system_actor
from audit.format.jcs import digest_of
from governance import services
from reports.models import Report
from reports.services import report_succeed
from tests.factories import csv_bytes, make_dataset_version, make_model, make_version


def held_out(version: Any) -> str:
    """The digest of a dataset version named for the version's evaluation (one is made and named if none is), as a
    performance report measured on held-out data records it."""
    named = version.evaluation_datasets.order_by("id").first()
    if named is None:
        # Rows of their own: the factory's default bytes are often the version's training data.
        named = make_dataset_version(version.model.owner, name=f"held-out-{version.pk}", content=csv_bytes(rows=33))
        # A test's shortcut (registration names it in the service), recorded as the service records a version's
        # datasets: the database refuses the link row without its entry (audit.row_guards).
        with audit_context(actor=system_actor("test evidence"), channel="system"), writer.atomic():
            writer.record(action="registry.modelversion.update", obj=version,
                          changes={"evaluation_datasets": {"old": [], "new": [named.pk]}})
            with writer.permit_governed_writes():
                version.evaluation_datasets.add(named)
    return str(named.sha256)


def add_report(version: Any, kind: str, verdict: str = "pass", *, finished_at: dt.datetime | None = None,
               digest: str = "a", artifact: str | None = None, measured: dict[str, Any] | None = None,
               evaluated_on: str | None = None) -> Report:
    """A succeeded report of `kind`; a performance report measures `measured` (ROC AUC 0.8 unless told): each a
    number, or the whole entry as the report writes it; on a dataset named for evaluation unless `evaluated_on`
    gives another's digest. Made as a worker makes one (reports.services.report_succeed, which governance reacts
    to in its transaction), unless `finished_at` backdates it: that row is written as it stands."""
    sha = (digest * 64)[:64]
    metrics: dict[str, Any] = {"verdict": verdict, "overall": {"roc_auc": {"value": 0.8}}, "made_as": sha}
    inputs = {"artifact_sha256": artifact or version.artifact_sha256}
    if kind == "performance":
        inputs["evaluation_dataset_sha256"] = evaluated_on or held_out(version)
        metrics["metrics"] = {k: v if isinstance(v, dict) else {"value": v, "ci": [None, None]}
                              for k, v in (measured or {"roc_auc": 0.8}).items()}
    with audit_context(actor=system_actor("test evidence"), channel="task"):
        report = Report(version=version, kind=kind, inputs=inputs)
        if finished_at is not None:
            report.status, report.verdict, report.progress, report.finished_at = "succeeded", verdict, 100, finished_at
            report.metrics = metrics
            report.pdf_sha256, report.json_sha256 = sha, digest_of(metrics)
        writer.save(report)
        if finished_at is None:
            report = report_succeed(report_id=report.pk, metrics=metrics, json_name="",
                                    json_sha256=digest_of(metrics), pdf_name="", pdf_sha256=sha)
    return report


def full_evidence(version: Any, verdict: str = "pass") -> None:
    for kind in ("bias", "explainability", "performance", "lineage"):
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


def staff_world(make_user: Any) -> People:
    """People in each role, on the staff, and a version with full evidence whose developer asked for production:
    what the admin's refusals (of hostile input, of a raise above one's role) are tried against."""
    people = People(make_user)
    for user in (people.val, people.risk, people.comp, people.dev, people.dev2, people.aud, people.gov):
        user.is_staff = True
        user.save()
    people.version = version_for(people)  # type: ignore[attr-defined]
    full_evidence(people.version)  # type: ignore[attr-defined]
    people.req = services.promotion_request_create(  # type: ignore[attr-defined]
        version=people.version, target_stage="production", justification="go", by=people.dev)  # type: ignore[attr-defined]
    return people


def stage_for_setup(version: Any, stage: str) -> None:
    """Put a version in a stage for a test's set-up, standing in for the approved request that would: the decision's
    permit held and, on PostgreSQL, as a superuser could (db_guards.suspended), past the trigger that asks for that
    request's approval in the same transaction (governance.stage_guard)."""
    from contextlib import nullcontext

    from django.db import connection

    from audit import db_guards
    from registry.services.version import model_version_set_stage

    past = db_guards.suspended(connection) if connection.vendor == "postgresql" else nullcontext()
    with past, audit_context(actor=system_actor("test set-up"), channel="system"), writer.atomic(), \
            writer.deciding():
        model_version_set_stage(version=version, stage=stage, promotion_request_id=None)
