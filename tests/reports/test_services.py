"""Reports end to end: requested, computed by the task, stored with digests, deterministic, readable."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from typing import Any

import pytest
from pypdf import PdfReader

from audit.models import AuditEntry
from reports import compute, services
from reports.models import Report

pytestmark = pytest.mark.django_db


def _request(registered, kind, version="v2", **config):
    report = services.report_request(version=registered[version], kind=kind, by=registered["val"],
                                     config={"n_boot": 20, "n_explain": 80, **config})
    report.refresh_from_db()
    return report


def _pdf_bytes(report):
    with report.pdf.open("rb") as fh:
        return fh.read()


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("kind", ["bias", "explainability", "performance", "lineage"])
def test_report_succeeds_with_digests_and_audit(registered, kind, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report = _request(registered, kind)
    report.refresh_from_db()
    assert report.status == "succeeded", report.error
    pdf = _pdf_bytes(report)
    assert hashlib.sha256(pdf).hexdigest() == report.pdf_sha256
    with report.json.open("rb") as fh:
        twin = fh.read()
    assert hashlib.sha256(twin).hexdigest() == report.json_sha256
    assert json.loads(twin) == report.metrics
    done = AuditEntry.objects.get(action="reports.report.succeed", object_id=str(report.pk)).as_json()
    assert done["changes"]["pdf_sha256"]["new"] == report.pdf_sha256
    assert done["actor"]["name"] == "val" and done["context"]["channel"] == "task"
    text = _text(pdf)
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert f"Report {report.pk} · metrics JSON SHA-256 {report.json_sha256} · page 1 of {pages}" in text
    assert f"page {pages} of {pages}" in text
    reader = PdfReader(io.BytesIO(pdf))
    fonts = set()
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for font in (resources.get("/Font") or {}).values():
            desc: Any = font.get_object()
            fonts.add(str(desc.get("/BaseFont")))
            assert "/Helvetica" not in str(desc.get("/BaseFont"))
    assert any("DejaVu" in f for f in fonts)
    assert "credit-risk" in text and "Regulatory mapping" in text and "Sign-off" in text
    assert "Rank consumer credit applications <b>by risk</b>" in text or kind == "lineage"


def test_bias_verdicts_and_numbers_in_pdf(registered, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        v1 = _request(registered, "bias", "v1")
        v2 = _request(registered, "bias", "v2")
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.verdict, v2.verdict) == ("fail", "pass")
    text = _text(_pdf_bytes(v1))
    assert "Verdict: FAIL" in text
    under25 = next(g for g in v1.metrics["attributes"][1]["groups"] if g["group"] == "under 25")
    assert f"{under25['selection_rate']['value']:.3f}" in text
    assert v1.metrics["rows"] == registered["test"].row_count


def test_same_inputs_give_identical_bytes_and_rerun_is_idempotent(registered, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report = _request(registered, "bias")
    report.refresh_from_db()
    first_pdf, first_json = _pdf_bytes(report), report.json_sha256
    from reports import builders

    metrics, again = builders.build(report, progress=lambda v: None)
    assert again == first_pdf
    assert hashlib.sha256(services.canonical_json(metrics)).hexdigest() == first_json
    assert compute.report_compute(report_id=report.pk).pdf_sha256 == report.pdf_sha256


@pytest.mark.skipif(shutil.which("qpdf") is None and os.environ.get("CI") != "true", reason="qpdf not installed")
def test_qpdf_check_passes(registered, django_capture_on_commit_callbacks, tmp_path):
    with django_capture_on_commit_callbacks(execute=True):
        report = _request(registered, "explainability")
    report.refresh_from_db()
    path = tmp_path / "r.pdf"
    path.write_bytes(_pdf_bytes(report))
    result = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_input_fails_with_a_clear_message(registered, django_capture_on_commit_callbacks, make_user):
    import io as _io

    from audit.context import audit_context, user_actor
    from registry.services.dataset import dataset_version_create

    dev = registered["dev"]
    with audit_context(actor=user_actor(dev), channel="system"):
        broken = dataset_version_create(dataset=registered["test"].dataset, by=dev,
                                        file=_io.BytesIO(b"risk,sex,age\n1,male,30\n0,female,22\n"),
                                        target_column="risk", sensitive_columns=["sex"], allow_schema_change=True)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.report_request(version=registered["v2"], kind="bias", by=registered["val"],
                                         evaluation_dataset=broken)
    report.refresh_from_db()
    assert report.status == "failed"
    assert "the model needs column(s) the data lacks" in report.error
    assert not report.pdf
    assert AuditEntry.objects.filter(action="reports.report.fail", object_id=str(report.pk)).exists()


def test_gates_read_real_reports(registered, django_capture_on_commit_callbacks):
    from governance import gates
    from governance.models import Policy

    with django_capture_on_commit_callbacks(execute=True):
        for kind in ("bias", "explainability", "performance", "lineage"):
            _request(registered, kind, "v1")
    rule = Policy.objects.get().rules["production"]["high"]
    results = {g.name: g.passed for g in gates.evaluate(registered["v1"], rule)}
    assert results == {"evidence.bias": False, "evidence.explainability": True, "evidence.lineage": True,
                       "evidence.performance": True, "metric.roc_auc": True}


def test_api_request_poll_download(api, registered, django_capture_on_commit_callbacks):
    api.force_authenticate(registered["val"])
    with django_capture_on_commit_callbacks(execute=True):
        resp = api.post("/api/v1/reports/", {"version": registered["v2"].pk, "kind": "lineage"}, format="json")
    assert resp.status_code == 202
    rid = resp.json()["id"]
    body = api.get(f"/api/v1/reports/{rid}/").json()
    assert body["status"] == "succeeded" and body["progress"] == 100
    pdf = api.get(f"/api/v1/reports/{rid}/pdf/")
    assert pdf.status_code == 200
    content = b"".join(pdf.streaming_content)
    assert pdf["X-Content-SHA256"] == hashlib.sha256(content).hexdigest() == body["pdf_sha256"]
    twin = api.get(f"/api/v1/reports/{rid}/json/")
    assert twin["X-Content-SHA256"] == body["json_sha256"]
    api.force_authenticate(registered["dev"])
    assert api.post("/api/v1/reports/", {"version": registered["v2"].pk, "kind": "bias"},
                    format="json").status_code == 202
    api.force_authenticate(None)
    assert Report.objects.count() == 2


def test_reports_carry_the_latest_checkpoint_and_lineage_proves_what_it_cites(
        registered, django_capture_on_commit_callbacks):
    from audit.checkpoints import checkpoint_create
    from audit.format.rfc6962 import leaf_hash
    from audit.signing import public_key_pem
    from audit.verifier import verify_checkpoint_signature, verify_inclusion

    cp = checkpoint_create().as_json()
    with django_capture_on_commit_callbacks(execute=True):
        report = _request(registered, "lineage")
    report.refresh_from_db()
    assert report.status == "succeeded", report.error
    assert report.config["checkpoint"] == cp == report.metrics["checkpoint"]
    verify_checkpoint_signature(cp, public_key_pem(cp["key"]))
    cited = [e for e in report.metrics["audit_entries"] if e["seq"] <= cp["size"]]
    assert cited, "the lineage report cites entries the checkpoint covers"
    for entry in cited:
        proof = [bytes.fromhex(h) for h in entry["inclusion_proof"]["proof"]]
        assert entry["hash"] == AuditEntry.objects.get(seq=entry["seq"]).hash
        assert verify_inclusion(leaf_hash(entry["hash"]), entry["seq"] - 1, cp["size"], proof,
                                bytes.fromhex(cp["root"]))
    later = [e for e in report.metrics["audit_entries"] if e["seq"] > cp["size"]]
    assert all(e["inclusion_proof"] is None for e in later)  # not covered yet: said, not faked


def test_a_worker_with_other_software_than_recorded_fails_the_report_saying_what_differs(registered, monkeypatch):
    report = _request(registered, "lineage")  # queued: its task runs on commit, which this test never reaches
    assert report.status == "queued" and report.config["software"]["shap"]
    real = services.software_versions()
    monkeypatch.setattr(compute, "software_versions", lambda: {**real, "shap": "0.0.1"})
    done = compute.report_compute(report_id=report.pk)
    assert done.status == "failed" and not done.pdf
    assert f"shap {real['shap']} recorded, 0.0.1 here" in done.error
    monkeypatch.setattr(compute, "software_versions", lambda: real)
    assert compute.report_compute(report_id=report.pk).status == "succeeded"  # a worker put right completes it


def test_a_report_is_served_only_with_the_digest_of_its_metrics(registered):
    """The entries record json_sha256, not the metrics (Report.AUDIT_DIGESTED): a report served with metrics its
    digest does not name is refused, and nothing changes."""
    from config.errors import InvalidInput

    report = _request(registered, "performance")  # queued: its task waits for a commit the test never makes
    assert report.status == "queued"
    metrics = {"verdict": "info", "metrics": {"roc_auc": {"value": 0.99}}}
    with pytest.raises(InvalidInput, match="not the digest of the metrics"):
        services.report_succeed(report_id=report.pk, metrics=metrics, json_name="", json_sha256="0" * 64,
                                pdf_name="", pdf_sha256="0" * 64)
    report.refresh_from_db()
    assert report.status != "succeeded" and report.metrics != metrics


@pytest.mark.parametrize("junk", [float("nan"), 2**60])
def test_metrics_with_no_digest_are_not_served_under_an_empty_one(registered, junk):
    """Metrics RFC 8785 cannot write have no digest (digest_of gives ""): served with json_sha256 "" they would
    pass as their own digest, the gate would read them and audit verify (which skips rows with no digest, the
    reports not yet served) would never check them again."""
    from config.errors import InvalidInput
    from reports.selectors import EvidenceSummary

    report = _request(registered, "performance")
    metrics = {"verdict": "info", "metrics": {"roc_auc": {"value": 0.99}}, "junk": junk}
    with pytest.raises(InvalidInput, match="not the digest of the metrics"):
        services.report_succeed(report_id=report.pk, metrics=metrics, json_name="", json_sha256="",
                                pdf_name="", pdf_sha256="0" * 64)
    report.refresh_from_db()
    assert report.status != "succeeded"
    summary = EvidenceSummary(report_id=1, kind="performance", status="succeeded", verdict="info", pdf_sha256="",
                              json_sha256="", finished_at=None, metrics=metrics, inputs={})
    assert not summary.metrics_intact()
