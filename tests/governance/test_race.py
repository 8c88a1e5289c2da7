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


# Approve against a change of the model's people, and against expiry, at the same moment (issue 20) -------------


def approve_or_change(index: int, request_id: int, approver: str, role: str, change: str) -> str:
    """Process 0 approves; process 1 makes the approver the model's owner or one of its developers, or (for
    "expire") runs the scheduled expiry of the request. For "expire" both processes' clocks read 31 days on: the
    request's time to live (30 days) has run out (a request cannot be backdated: tests/clock.py)."""
    if change != "expire":
        return _approve_or_change(index, request_id, approver, role, change)
    import datetime as dt
    from unittest import mock

    from django.utils import timezone

    real_now = timezone.now
    with mock.patch.object(timezone, "now", lambda: real_now() + dt.timedelta(days=31)):
        return _approve_or_change(index, request_id, approver, role, change)


def _approve_or_change(index: int, request_id: int, approver: str, role: str, change: str) -> str:
    from django.contrib.auth import get_user_model

    from audit.context import audit_context, system_actor, user_actor
    from config.errors import DomainError
    from governance import services
    from governance.models import PromotionRequest
    from registry.services.model import registered_model_edit, registered_model_set_developers

    users = get_user_model().objects
    request = PromotionRequest.objects.select_related("version__model").get(pk=request_id)
    model = request.version.model
    if index == 0:
        user = users.get(username=approver)
        with audit_context(actor=user_actor(user), channel="api"):
            try:
                return services.approval_record(request=request, by=user, role=role, decision="approve").status
            except DomainError as exc:
                return f"refused: {exc.rule}"
    owner = model.owner
    with audit_context(actor=user_actor(owner) if change != "expire" else system_actor("beat"), channel="api"):
        if change == "developer":
            registered_model_set_developers(model=model, developers=[*model.developers.all(), users.get(
                username=approver)], by=owner)
        elif change == "owner":
            registered_model_edit(model=model, by=owner, owner=users.get(username=approver))
        else:
            return f"expired {services.promotion_requests_expire()}"
    return "changed"


def _race(make_user: Any, change: str, rounds: int = 3) -> list[tuple[str, str]]:
    """Each round: a fresh request whose last slot the approver fills while the change happens; returns, per round,
    what each side saw. Whatever the order, the approver's approval never counts once they are on the model."""

    from governance import services
    from governance.models import Approval
    from tests.governance.helpers import People, full_evidence, version_for

    people = People(make_user)
    outcomes = []
    for n in range(rounds):
        version = version_for(people, name=f"race-{change}-{n}")
        full_evidence(version)
        request = services.promotion_request_create(version=version, target_stage="production", justification="x",
                                                    by=people.dev)
        services.approval_record(request=request, by=people.risk, role="risk_officer", decision="approve")
        services.approval_record(request=request, by=people.comp, role="compliance_officer", decision="approve")
        results = run_processes("tests.governance.test_race:approve_or_change", 2, request.pk, "val", "validator",
                                change)
        request.refresh_from_db()
        version.refresh_from_db()
        counted = Approval.objects.filter(request=request, approver=people.val, lapsed_at__isnull=True).exists()
        outcomes.append((results[0][2], results[1][2]))
        if change == "expire":
            # Expired: never approved, never promoted, whoever came first.
            assert request.status == "expired" and version.stage == "none", results
            assert AuditEntry.objects.filter(action="governance.promotionrequest.expire",
                                             object_id=str(request.pk)).count() == 1
        else:
            # The approver is on the model now: either they were refused, or their approval lapsed in the change's
            # transaction; or the approval came first, completed and promoted (a decided request stays decided).
            assert results[1][2] == "changed", results
            if request.status == "approved":
                # Only if the approval was decided before the change began: the record shows the approver joined
                # the model after it. (Unserialised, the change could start first and the approval count anyway.)
                from registry.models import ModelPersonnel

                joined = ModelPersonnel.objects.get(model=version.model, user=people.val).started_at
                approved_at = Approval.objects.get(request=request, approver=people.val).created_at
                assert results[0][2] == "approved" and version.stage == "production"
                assert approved_at < joined, (approved_at, joined)
            else:
                assert request.status == "pending" and not counted and version.stage == "none", results
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["developer", "owner", "expire"])
def test_approve_races_a_change_of_people_and_expiry(make_user: Any, change: str) -> None:
    outcomes = _race(make_user, change)
    assert all(not o[0].startswith("error") and not o[1].startswith("error") for o in outcomes), outcomes
