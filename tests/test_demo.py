"""The README's main job, run in the suite: its outcomes are asserted, and a second run changes nothing."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from audit.verifier import verify_bundle
from governance import selectors
from governance.models import PromotionRequest
from registry.models import ModelVersion

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fast_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    from reports import services

    monkeypatch.setitem(services.DEFAULT_CONFIG, "n_boot", 20)
    monkeypatch.setitem(services.DEFAULT_CONFIG, "n_explain", 60)


def _demo(tmp_path: Any) -> str:
    out = StringIO()
    call_command("demo", "--export-root", str(tmp_path), stdout=out)
    return out.getvalue()


def test_demo_outcomes_and_rerun(fast_reports: None, tmp_path: Any, live_server: Any) -> None:
    text = _demo(tmp_path)
    v1 = ModelVersion.objects.get(model__name="credit-risk", version=1)
    v2 = ModelVersion.objects.get(model__name="credit-risk", version=2)
    assert (v1.stage, v2.stage) == ("none", "production")
    assert v1.reports.get(kind="bias").verdict == "fail" and v2.reports.get(kind="bias").verdict == "pass"
    # The performance report measured both from their artifacts; the gate reads it, not the declared metrics.
    for version in (v1, v2):
        performance = version.reports.get(kind="performance")
        assert performance.verdict == "pass" and performance.metrics["checks"][0]["metric"] == "roc_auc"
    request_v1 = PromotionRequest.objects.get(version=v1)
    gates = {g["name"]: g for g in selectors.request_detail(request_v1, request_v1.requested_by)["gates"]}
    assert [name for name, g in gates.items() if not g["passed"]] == ["evidence.bias"]  # blocked by its bias gate
    assert f"measured by performance report #{v1.reports.get(kind='performance').pk}" in gates["metric.roc_auc"][
        "detail"]
    assert "performance" in text
    assert PromotionRequest.objects.get(version=v1).status == "rejected"
    assert "evidence.not_ready" in text and "verdict is fail" in text  # v1's approval was refused, naming why
    approved = PromotionRequest.objects.get(version=v2, is_revalidation=False)
    assert approved.status == "approved"
    # What the decision was made on, frozen: every gate passed; the lineage report computed after the promotion
    # was bound to no approval and is shown apart as not reviewed.
    assert approved.decision_gates and all(g["passed"] for g in approved.decision_gates)
    from governance.selectors import request_detail, request_list

    detail = request_detail(request_list().get(pk=approved.pk), None)
    bound = {d["report_id"] for a in approved.approvals.all() for d in a.evidence_digests.values()}
    assert {ev["report_id"] for ev in detail["evidence"].values()} <= bound
    assert [ev["kind"] for ev in detail["evidence_not_reviewed"]] == ["lineage"]
    assert detail["evidence_not_reviewed"][0]["report_id"] not in bound
    assert "sod.requester_cannot_decide" in text
    assert "audit log: verified" in text
    # Monitoring: the first production month is green, the drifted second red, and it opened v2's re-validation.
    assert "monitoring month 1:" in text and "evaluation #" in text
    assert "monitoring month 2 (drifted)" in text and "re-validation request #" in text
    revalidation = PromotionRequest.objects.get(version=v2, is_revalidation=True)
    assert revalidation.status == "pending" and "is red" in revalidation.trigger
    result = verify_bundle(tmp_path / "audit-export")
    assert result.ok and result.checkpoints_checked >= 1
    counts = (ModelVersion.objects.count(), PromotionRequest.objects.count())
    again = _demo(tmp_path)
    assert (ModelVersion.objects.count(), PromotionRequest.objects.count()) == counts
    assert "audit log: verified" in again

    from tests.browser import admin_login, browser_page, screenshot
    # The second run left monitoring's re-validation as it found it: pending, for the validators to decide.
    assert PromotionRequest.objects.get(version=v2, is_revalidation=True).status == "pending"

    with browser_page() as page:
        admin_login(page, live_server.url, "validator", "validator-demo-pw")
        page.goto(f"{live_server.url}/admin/governance/promotionrequest/")
        # The demo left one request awaiting them: v2's re-validation, opened by monitoring's red breach.
        assert "1 promotion request" in page.inner_text("#changelist")
        assert "credit-risk v2" in page.inner_text("#result_list")
        page.goto(f"{live_server.url}/admin/governance/promotionrequest/?queue=all")
        assert "credit-risk v1" in page.inner_text("#result_list")
        screenshot(page, "validator-queue.png")
        page.goto(f"{live_server.url}/admin/governance/promotionrequest/{PromotionRequest.objects.get(version=v1).pk}"
                  "/review/")
        page.wait_for_selector("#gates")
        screenshot(page, "approval-page.png")
    with browser_page() as page:
        admin_login(page, live_server.url, "auditor", "auditor-demo-pw")
        page.goto(f"{live_server.url}/admin/audit/auditentry/")
        assert "registry.modelversion.stage_change" in page.inner_text("#result_list")
        assert page.locator("a.addlink").count() == 0
        page.goto(f"{live_server.url}/admin/registry/registeredmodel/")
        page.click("text=credit-risk")
        assert page.locator("input[name=_save]").count() == 0  # the auditor changes nothing
        screenshot(page, "auditor-log.png")
    # Every other demo role logs in and sees its own part of the admin, and no button it may not use.
    checks = {
        "developer": ("Registered models", "/admin/governance/policy/", "Add policy", False),
        "risk": ("Promotion requests", "/admin/registry/registeredmodel/", "Add registered model", False),
        "compliance": ("Promotion requests", "/admin/registry/registeredmodel/", "Add registered model", False),
        "govadmin": ("Policies", "/admin/governance/policy/", "Add policy", True),
    }
    for username, (sees, page_url, button, allowed) in checks.items():
        with browser_page() as page:
            admin_login(page, live_server.url, username, f"{username}-demo-pw")
            assert sees in page.inner_text("#content"), username
            page.goto(f"{live_server.url}{page_url}")
            assert (button.lower() in page.inner_text("#content").lower()) is allowed, username
