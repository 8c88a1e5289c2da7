"""The lineage report (reports.lineage, its diagram in reports.pdf.lineage): any number of items drawn, every byte
frozen with the request, the whole audit extract, everything an approval was bound to, and proofs the standalone
verifier takes as they are."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from reportlab.graphics.shapes import Rect, String
from reportlab.pdfbase.pdfmetrics import stringWidth

from audit.context import audit_context, user_actor
from audit.models import AuditEntry, VerificationRun
from governance import services as governance
from governance.models import Approval
from registry.models import DatasetVersion, ModelVersion, RegisteredModel
from registry.services.dataset import dataset_version_update
from registry.services.model import registered_model_update
from reports import builders, services
from reports.models import Report
from reports.pdf.lineage import diagram
from tests.factories import make_dataset_version, make_model, make_version
from tests.governance.helpers import People, add_report, stage_for_setup

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


@pytest.fixture
def promoted(people: People, django_capture_on_commit_callbacks: Any) -> dict[str, Any]:
    """A version with a parent, a computed lineage report, and a promotion to staging decided by a validator."""
    data = make_dataset_version(people.dev, licence="CC0")
    model = make_model(people.dev, "pd", risk_tier="low")
    parent = make_version(model, people.dev, metrics={"roc_auc": 0.8}, training_datasets=[data])
    version = make_version(model, people.dev, metrics={"roc_auc": 0.8}, training_datasets=[data], parent=parent)
    first = _lineage(people, version, django_capture_on_commit_callbacks)
    measured = add_report(version, "performance", "info")  # the ROC AUC the staging gate reads, measured
    with audit_context(actor=user_actor(people.dev), channel="system"):
        request = governance.promotion_request_create(version=version, target_stage="staging", justification="ok",
                                                      by=people.dev)
    with audit_context(actor=user_actor(people.val), channel="system"):
        request = governance.approval_record(request=request, by=people.val, role="validator", decision="approve",
                                             comment="fine")
    assert request.status == "approved"
    return {"version": version, "parent": parent, "data": data, "model": model, "first": first, "request": request,
            "measured": measured}


def _lineage(people: People, version: Any, capture: Any) -> Report:
    with capture(execute=True):
        report = services.report_request(version=version, kind="lineage", by=people.val)
    report.refresh_from_db()
    assert report.status == "succeeded", report.error
    return report


def _read(field: Any) -> bytes:
    with field.open("rb") as fh:
        data: bytes = fh.read()
    return data


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _lineage_metrics(**counts: int) -> dict[str, Any]:
    digest = "ab" * 32
    return {
        "datasets": [{"role": "training", "name": "german-credit-with-a-long-name", "version": 1}],
        "model_version": {"version": 2},
        "parents": [{"version": 1}],
        "reports": [{"id": i, "kind": "explainability", "verdict": "info"} for i in range(counts.get("reports", 1))],
        "promotion_requests": [{"id": i, "target_stage": "production"} for i in range(counts.get("requests", 1))],
        "approvals": [{"who": f"compliance-officer-with-a-long-username-{i}", "role": "compliance_officer",
                       "decision": "approve", "evidence_digests": {"bias": {"report_id": 1, "pdf_sha256": digest}}}
                      for i in range(counts.get("approvals", 1))],
        "stage_changes": [{"old": "staging", "new": "production"}],
    }


def test_diagram_labels_stay_inside_their_boxes() -> None:
    for d in diagram(_lineage_metrics(approvals=3)):
        rects = [s for s in d.contents if isinstance(s, Rect)]
        for label in (s for s in d.contents if isinstance(s, String) and s.fontName == "DejaVu"):
            box = next((r for r in rects if r.x <= label.x <= r.x + r.width and r.y <= label.y <= r.y + r.height),
                       None)
            assert box is not None, f"{label.text!r} is outside every box"
            assert label.x + stringWidth(label.text, label.fontName, label.fontSize) <= box.x + box.width, label.text
    words = " ".join(s.text for d in diagram(_lineage_metrics()) for s in d.contents if isinstance(s, String))
    assert "compliance_officer" in words and "approve" in words  # wrapped, not cut


def test_diagram_with_many_items_splits_into_drawings_that_fit_a_page() -> None:
    drawings = diagram(_lineage_metrics(reports=45, requests=25, approvals=60))
    assert len(drawings) > 1
    assert all(d.height < 250 * 72 / 25.4 for d in drawings)
    shown = " ".join(s.text for d in drawings for s in d.contents if isinstance(s, String))
    assert all(f"explainability #{i}:" in shown for i in range(45))
    assert all(f"request #{i} ->" in shown for i in range(25))


def test_lineage_report_with_twenty_five_reports_succeeds(people: People, django_capture_on_commit_callbacks: Any,
                                                          tmp_path: Path) -> None:
    model = make_model(people.dev, "pd", risk_tier="low")
    version = make_version(model, people.dev)
    reports = [add_report(version, "bias", digest=f"{i:x}") for i in range(25)]
    report = _lineage(people, version, django_capture_on_commit_callbacks)
    pdf = _read(report.pdf)
    text = _text(pdf)
    assert all(f"bias #{r.pk}: pass" in text for r in reports)
    if shutil.which("pdftoppm"):
        (tmp_path / "lineage.pdf").write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "30", str(tmp_path / "lineage.pdf"), str(tmp_path / "page")],
                       check=True)
        assert len(list(tmp_path.glob("page*.png"))) == len(PdfReader(io.BytesIO(pdf)).pages)


def test_a_recomputed_report_is_byte_identical_after_the_registry_moves_on(
        people: People, promoted: dict[str, Any], django_capture_on_commit_callbacks: Any) -> None:
    version = promoted["version"]
    report = _lineage(people, version, django_capture_on_commit_callbacks)
    pdf, json_sha = _read(report.pdf), report.json_sha256
    assert "Stage staging" in _text(pdf).replace("\n", " ")
    # What a retry, a redelivery or a deferred dispatch meets: the registry has moved on since the request.
    for pk, stage in ((version.pk, "production"), (promoted["parent"].pk, "archived")):
        stage_for_setup(ModelVersion.objects.get(pk=pk), stage)
    with audit_context(actor=user_actor(people.dev), channel="system"):
        registered_model_update(model=RegisteredModel.objects.get(pk=promoted["model"].pk), by=people.dev,
                                title="Renamed model", risk_tier="high")
    with audit_context(actor=user_actor(people.root), channel="system"):
        dataset_version_update(version=DatasetVersion.objects.get(pk=promoted["data"].pk), by=people.root,
                               licence="proprietary", provenance="moved")
    add_report(version, "bias")
    _lineage(people, version, django_capture_on_commit_callbacks)
    report = Report.objects.get(pk=report.pk)
    metrics, again = builders.build(report, progress=lambda v: None)
    assert hashlib.sha256(services.canonical_json(metrics)).hexdigest() == json_sha
    assert again == pdf


def test_the_audit_extract_holds_every_entry_about_the_version_its_reports_and_requests(
        people: People, promoted: dict[str, Any], django_capture_on_commit_callbacks: Any) -> None:
    version, request = promoted["version"], promoted["request"]
    report = _lineage(people, version, django_capture_on_commit_callbacks)
    head = report.config["audit_head"]["seq"]
    about = {("registry.modelversion", str(version.pk)), ("governance.promotionrequest", str(request.pk))}
    about |= {("reports.report", str(pk)) for pk in Report.objects.filter(version=version).values_list("pk", flat=True)}
    about |= {("governance.approval", str(a.pk)) for a in Approval.objects.filter(request=request)}
    expected = [e.seq for e in AuditEntry.objects.filter(seq__lte=head).order_by("seq")
                if (e.object_type, e.object_id) in about]
    extract = report.metrics["audit_entries"]
    assert [e["seq"] for e in extract] == expected
    actions = {e["action"] for e in extract}
    assert {"reports.report.request", "reports.report.start", "reports.report.succeed",
            "governance.promotionrequest.create", "governance.promotionrequest.approve",
            "governance.approval.approve", "registry.modelversion.stage_change"} <= actions
    # Not itself, not later ones.
    assert [r["id"] for r in report.metrics["reports"]] == [promoted["first"].pk, promoted["measured"].pk]


def test_approvals_carry_every_digest_they_were_bound_to(
        people: People, promoted: dict[str, Any], django_capture_on_commit_callbacks: Any) -> None:
    report = _lineage(people, promoted["version"], django_capture_on_commit_callbacks)
    approval = Approval.objects.get(request=promoted["request"])
    shown = report.metrics["approvals"][0]
    assert shown["artifact_sha256"] == approval.artifact_sha256 == promoted["version"].artifact_sha256
    assert shown["evidence_digests"] == approval.evidence_digests
    bound = approval.evidence_digests["lineage"]
    assert bound["report_id"] == promoted["first"].pk and bound["pdf_sha256"] == promoted["first"].pdf_sha256
    text = re.sub(r"\s", "", _text(_read(report.pdf)))
    for digest in (approval.artifact_sha256, bound["pdf_sha256"], bound["json_sha256"]):
        assert digest in text


def test_cited_proofs_are_documents_the_standalone_verifier_accepts(
        people: People, promoted: dict[str, Any], django_capture_on_commit_callbacks: Any) -> None:
    from audit.checkpoints import checkpoint_create
    from audit.signing import public_key_pem
    from audit.verifier.proofs import check_proof

    cp = checkpoint_create().as_json()
    report = _lineage(people, promoted["version"], django_capture_on_commit_callbacks)
    twin = json.loads(_read(report.json))
    cited = [e for e in twin["audit_entries"] if e["inclusion_proof"] is not None]
    assert cited and all(e["seq"] <= cp["size"] for e in cited)
    keys = {cp["key"]: public_key_pem(cp["key"])}
    for entry in cited:
        assert check_proof(entry["inclusion_proof"], keys) == \
            f"entry {entry['seq']} is in the signed tree of {cp['size']} entries"
        assert entry["inclusion_proof"]["entry_hash"] == entry["hash"]
    text = _text(_read(report.pdf)).replace("\n", " ")
    assert "python -m audit.verifier --proof" in text
    checked = VerificationRun.objects.latest("id").entries_checked
    assert checked > report.config["audit_head"]["seq"]
    assert all(int(n) == checked for n in re.findall(r"(\d+) entries", text))  # no count below what was checked
    assert f"seq {report.config['audit_head']['seq']}" in text
