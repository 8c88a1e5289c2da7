"""In a real browser: a validator logs into the admin, approves a pending request with a comment."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import admin_login, browser_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_validator_approves_in_the_admin(live_server: Any, make_user: Any) -> None:
    from governance import services
    from governance.models import Approval
    from tests.governance.helpers import People, full_evidence, version_for

    people = People(make_user)
    people.val.is_staff = True
    people.val.save()
    version = version_for(people)
    full_evidence(version)
    request = services.promotion_request_create(version=version, target_stage="production",
                                                justification="Quarterly refresh", by=people.dev)
    with browser_page() as page:
        admin_login(page, live_server.url, "val", "pw-val")
        page.goto(f"{live_server.url}/admin/governance/promotionrequest/")
        page.click(f"a[href$='/promotionrequest/{request.pk}/change/']")
        page.wait_for_selector("#gates")
        page.select_option("#role", "validator")
        page.fill("#comment", "Validation report reviewed; thresholds met.")
        page.click("input[name=_approve]")
        page.wait_for_selector("text=is recorded")
        assert "Validation report reviewed" in page.inner_text("#approvals")
        shot = screenshot(page, "approval.png")
    assert shot.stat().st_size > 10_000
    approval = Approval.objects.get(request=request)
    assert (approval.approver.username, approval.role, approval.decision) == ("val", "validator", "approve")
