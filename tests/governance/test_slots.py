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


def test_the_frozen_derivation_of_migration_0008_agrees_with_todays() -> None:
    """Migration 0008 derives the slots with a frozen copy of the rule (governance/migrations/_open_slots_v1.py);
    while today's rule is the same, the two give the same slots."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from governance.migrations import _open_slots_v1 as frozen

    moments = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 1, 1),
                           timezones=st.just(dt.UTC))
    roles = st.sampled_from(["validator", "risk_officer", "compliance_officer"])

    @settings(max_examples=200, deadline=None)
    @given(st.sampled_from(["pending", "approved", "expired"]), st.dictionaries(roles, st.integers(0, 3)),
           st.lists(st.tuples(roles, moments), max_size=6), moments)
    def agree(status: str, approvals: dict[str, int], counted: list[tuple[str, dt.datetime]],
              at: dt.datetime) -> None:
        facts = (at, 1, 2, at, 3)
        now = slots.derive(status, {"approvals": approvals}, counted, slots.Facts(*facts))
        then = frozen.derive(status, {"approvals": approvals}, counted, frozen.Facts(*facts))
        assert {r: (s.needed, s.full_until, tuple(s.facts)) for r, s in now.items()} == \
            {r: (s.needed, s.full_until, tuple(s.facts)) for r, s in then.items()}

    agree()
