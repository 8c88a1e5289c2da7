"""The queue's table of open slots (governance.slots): kept by every change of a request or its approvals, in that
change's transaction, and derived again from the rows by the rebuild."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from audit.context import audit_context, user_actor
from governance import services, slots
from governance.models import OpenSlot
from registry.services.model import registered_model_set_developers
from tests.governance.helpers import People, full_evidence, version_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return People(make_user)


def _open(request_id: int, at: dt.datetime | None = None) -> dict[str, int]:
    """Each role of the request's rows, with 1 where a slot is open at `at`."""
    at = at or timezone.now()
    return {role: int(slot.full_until is None or slot.full_until <= at)
            for role, slot in slots.stored([request_id]).get(request_id, {}).items()}


def _request(people, **kwargs):
    version = version_for(people, **kwargs)
    full_evidence(version)
    return services.promotion_request_create(version=version, target_stage="production", justification="go",
                                             by=people.dev)


def test_each_decision_keeps_the_rows_in_its_transaction(people):
    request = _request(people)
    assert _open(request.pk) == {"validator": 1, "risk_officer": 1, "compliance_officer": 1}
    services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    assert _open(request.pk) == {"validator": 0, "risk_officer": 1, "compliance_officer": 1}
    # The approval's validity is the row's, and time is judged when read: past it, the slot is open again.
    later = timezone.now() + dt.timedelta(days=60)
    assert _open(request.pk, later)["validator"] == 1
    services.approval_record(request=request, by=people.risk, role="risk_officer", decision="reject", comment="no")
    assert slots.stored([request.pk]) == {}


def test_a_change_that_fails_leaves_the_rows_as_they_were(people):
    request = _request(people)
    before = slots.stored([request.pk])
    with pytest.raises(RuntimeError), transaction.atomic():
        services.approval_record(request=request, by=people.val, role="validator", decision="approve")
        raise RuntimeError("the transaction fails after the approval")
    assert slots.stored([request.pk]) == before


def test_withdrawal_and_expiry_end_the_rows(people):
    withdrawn = _request(people, name="w")
    services.promotion_request_withdraw(request=withdrawn, by=people.dev)
    assert slots.stored([withdrawn.pk]) == {}
    expired = _request(people, name="e")
    services.promotion_requests_expire(now=expired.expires_at + dt.timedelta(seconds=1))
    assert slots.stored([expired.pk]) == {}


def test_a_lapse_reopens_the_slot(people):
    request = _request(people)
    services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    assert _open(request.pk)["validator"] == 0
    # The validator joins the model: their approval lapses in that change's transaction, and the slot is open.
    with audit_context(actor=user_actor(people.dev), channel="system"):
        registered_model_set_developers(model=request.version.model, developers=[people.dev2, people.val],
                                        by=people.dev)
    assert _open(request.pk)["validator"] == 1


def test_rebuild_derives_the_table_again_and_says_what_differed(people):
    request = _request(people)
    services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    kept = slots.stored()
    OpenSlot.objects.filter(request=request, role="validator").delete()  # a table gone wrong, as by hand
    out = io.StringIO()
    call_command("governance", "rebuild-slots", stdout=out)
    assert "1 request(s) differed" in out.getvalue()
    assert slots.stored() == kept
    out = io.StringIO()
    call_command("governance", "rebuild-slots", stdout=out)
    assert "0 request(s) differed" in out.getvalue()
