"""Two approvers racing for the last slot, in separate processes: the version is promoted exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEntry
from tests.multiproc import run_processes


def approve_last_slot(index: int, request_id: int, usernames: list[str]) -> str:
    from django.contrib.auth import get_user_model

    from audit.context import audit_context, user_actor
    from config.errors import DomainError
    from governance import services
    from governance.models import PromotionRequest

    user = get_user_model().objects.get(username=usernames[index])
    with audit_context(actor=user_actor(user), channel="api"):
        try:
            done = services.approval_record(request=PromotionRequest.objects.get(pk=request_id), by=user,
                                            role="compliance_officer", decision="approve")
        except DomainError as exc:
            return f"refused: {exc.rule}"
    return done.status


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_last_slot_race_promotes_once(make_user: Any) -> None:
    from governance import services
    from tests.governance.helpers import People, full_evidence, version_for

    people = People(make_user)
    make_user("comp2", "compliance officer")
    version = version_for(people)
    full_evidence(version)
    request = services.promotion_request_create(version=version, target_stage="production", justification="x",
                                                by=people.dev)
    services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    services.approval_record(request=request, by=people.risk, role="risk_officer", decision="approve")
    results = run_processes("tests.governance.test_race:approve_last_slot", 2, request.pk, ["comp", "comp2"])
    outcomes = sorted(r[2] for r in results)
    assert outcomes[0] == "approved" and outcomes[1].startswith("refused"), results
    assert AuditEntry.objects.filter(action="registry.modelversion.stage_change").count() == 1
    assert AuditEntry.objects.filter(action="governance.promotionrequest.approve").count() == 1
    version.refresh_from_db()
    assert version.stage == "production"
