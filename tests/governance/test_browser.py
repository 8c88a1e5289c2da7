"""In a real browser: a validator logs into the admin, approves a pending request with a comment; a governance admin
picks an instant on the "Inventory as of" page and reads what was in production then."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audit.test_reconcile import flow  # noqa: F401  (the fixture: the demo's course in small)
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


def test_inventory_as_of_a_picked_instant(live_server: Any, flow: dict[str, Any]) -> None:  # noqa: F811
    import datetime as dt
    import time

    from audit.checkpoints import checkpoint_create
    from audit.models import AuditEntry
    from governance import inventory

    checkpoint_create()
    v2 = flow["v2"]
    promoted = AuditEntry.objects.get(object_type="registry.modelversion", object_id=str(v2.pk),
                                      action=inventory.STAGE_CHANGE)
    # Whole seconds, as the picker takes them: the second after the promotion's entry.
    picked = (promoted.ts.replace(microsecond=0) + dt.timedelta(seconds=1)).astimezone(dt.UTC)
    time.sleep(max(0.0, (picked - dt.datetime.now(dt.UTC)).total_seconds()))  # not in the future when asked
    with browser_page() as page:
        admin_login(page, live_server.url, "gov", "pw-gov")
        page.click("text=Inventory as of an instant")
        page.wait_for_selector("#inventory-form")
        page.fill("input[type=datetime-local]", picked.strftime("%Y-%m-%dT%H:%M:%S"))
        page.click("#inventory-form input[type=submit]")
        page.wait_for_selector("#inventory-head")
        assert "Inventory as of " + picked.strftime("%Y-%m-%dT%H:%M:%S") in page.inner_text("h1")
        versions = page.inner_text(f"#model-{v2.model_id} .inventory-versions")
        assert "production" in versions and f"#{promoted.seq}" in versions and "available" in versions
        shot = screenshot(page, "inventory.png")
    assert shot.stat().st_size > 10_000
