"""The queue's SQL form of "may decide" (rules.awaiting_filter) against the rule itself (rules.may_decide), over random
histories: owners and developers coming and going, versions registered between, roles held or not, requests by
various people, approvals given (or refused), rejections and withdrawals, validity and time to live running out.
The table of open slots the SQL form reads (governance.slots) is held to the rule's open slots at every moment, and
to what deriving it again from the rows gives."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.context import audit_context, system_actor, user_actor
from config.errors import DomainError
from governance import rules, services, slots
from governance.models import Policy, PromotionRequest
from registry.models import RegisteredModel
from registry.services.model import registered_model_create, registered_model_edit, registered_model_set_developers
from registry.services.version import model_version_create
from tests.factories import skops_bytes

pytestmark = pytest.mark.django_db

USERS = 6
ROLE_GROUPS = {"validator": "model validator", "risk_officer": "risk officer",
               "compliance_officer": "compliance officer"}

users_ = st.integers(0, USERS - 1)
events = st.one_of(
    st.tuples(st.just("developers"), st.integers(0, 1), st.sets(users_, max_size=3)),
    st.tuples(st.just("owner"), st.integers(0, 1), users_),
    st.tuples(st.just("version"), st.integers(0, 1), users_),
    st.tuples(st.just("request"), st.integers(0, 9), users_),
    st.tuples(st.just("approve"), st.integers(0, 9), users_, st.sampled_from(sorted(ROLE_GROUPS))),
    st.tuples(st.just("reject"), st.integers(0, 9), users_, st.sampled_from(sorted(ROLE_GROUPS))),
    st.tuples(st.just("withdraw"), st.integers(0, 9)),
    # Time passing between steps: past 168 hours the approvals given before it are no longer valid.
    st.tuples(st.just("wait"), st.sampled_from([1, 20, 100, 170])),
)
histories = st.fixed_dictionaries({
    "roles": st.lists(st.sets(st.sampled_from(sorted(ROLE_GROUPS)), max_size=2), min_size=USERS, max_size=USERS),
    "events": st.lists(events, min_size=4, max_size=18),
    "later": st.sampled_from([0, 2, 8, 40]),  # days after the history: validity (7) and time to live (30) run out
})


@pytest.fixture
def world(make_user: Any, clock: Any) -> dict[str, Any]:
    people = [make_user(f"u{i}", "model developer") for i in range(USERS)]
    admin = make_user("gov", "governance admin")
    policy = Policy.objects.get()
    rules_ = policy.rules
    for stage in rules_.values():
        for rule in stage.values():
            rule["evidence"] = {}  # evidence is not what this test is about: every approval may be given
    services.policy_update(policy=policy, by=admin, rules_=rules_)
    models = [registered_model_create(by=people[0], name=f"m{i}", title="M", risk_tier=tier)
              for i, tier in enumerate(("critical", "medium"))]
    return {"people": people, "models": models, "artifact": skops_bytes(), "clock": clock}


def _member(model: RegisteredModel, index: int) -> Any:
    """One of the model's current owner and developers, by index: only they register versions and ask."""
    members = [model.owner, *model.developers.order_by("pk")]
    return members[index % len(members)]


def _step(world: dict[str, Any], event: tuple[Any, ...], versions: list[Any], requests: list[Any]) -> None:
    people = world["people"]
    kind = event[0]
    if kind in ("developers", "owner", "version"):
        model = RegisteredModel.objects.get(pk=world["models"][event[1]].pk)
    if kind == "developers":
        registered_model_set_developers(model=model, developers=[people[i] for i in sorted(event[2])],
                                        by=model.owner)
    elif kind == "owner":
        registered_model_edit(model=model, by=model.owner, owner=people[event[2]])
    elif kind == "version":
        by = _member(model, event[2])
        with audit_context(actor=user_actor(by), channel="system"):
            versions.append(model_version_create(model=model, by=by, artifact=io.BytesIO(world["artifact"]),
                                                 artifact_format="skops", metrics={"roc_auc": 0.9}))
    elif kind == "request" and versions:
        version = versions[event[1] % len(versions)]
        requests.append(services.promotion_request_create(
            version=version, target_stage="staging" if event[1] % 2 else "production", justification="h",
            by=_member(RegisteredModel.objects.get(pk=version.model_id), event[2])))
    elif kind == "approve" and requests:
        services.approval_record(request=requests[event[1] % len(requests)], by=people[event[2]], role=event[3],
                                 decision="approve")
    elif kind == "reject" and requests:
        services.approval_record(request=requests[event[1] % len(requests)], by=people[event[2]], role=event[3],
                                 decision="reject", comment="no")
    elif kind == "withdraw" and requests:
        request = requests[event[1] % len(requests)]
        services.promotion_request_withdraw(request=request, by=request.requested_by)
    elif kind == "wait":
        world["clock"].advance(hours=event[1])


def _play(world: dict[str, Any], history: dict[str, Any]) -> None:
    versions: list[Any] = []
    requests: list[PromotionRequest] = []
    world["clock"].reset()  # each example's history starts now (its writes are rolled back after it)
    with audit_context(actor=system_actor("history"), channel="system"):
        for user, held in zip(world["people"], history["roles"], strict=True):
            user.groups.set([Group.objects.get(name="model developer")]
                            + [Group.objects.get(name=ROLE_GROUPS[r]) for r in held])
    # Every history starts with a version of each model asked to production, then goes its own way.
    for event in [("version", 0, 0), ("version", 1, 0), ("request", 0, 0), ("request", 1, 0), *history["events"]]:
        with contextlib.suppress(DomainError):  # a refused step is part of a history too
            _step(world, event, versions, requests)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(history=histories)
def test_the_queue_is_the_rule(world: dict[str, Any], history: dict[str, Any]) -> None:
    with transaction.atomic():
        _play(world, history)
        now = timezone.now() + dt.timedelta(days=history["later"])
        everything = list(PromotionRequest.objects.select_related("version", "version__model")
                          .prefetch_related("approvals__approver"))
        assert everything  # the prelude made requests for the rule to judge
        for user in world["people"]:
            user = type(user).objects.get(pk=user.pk)
            by_rule = {r.pk for r in everything if rules.may_decide(user, r, now)}
            by_sql = set(rules.awaiting_filter(PromotionRequest.objects.all(), user, now).values_list("pk", flat=True))
            assert by_sql == by_rule, (user.username, history)
            assert set(rules.awaiting_ids(user, now)) == by_rule, (user.username, history)
        _assert_slots_are_the_rule(everything, now)
        transaction.set_rollback(True)


def _assert_slots_are_the_rule(requests: list[PromotionRequest], now: dt.datetime) -> None:
    """The open-slot rows kept by the saves are the rule's open slots (rules.open_slots), at the moment judged and
    at every moment a validity runs out, for pending requests only, with their request's and version's facts; and
    deriving the table again changes nothing."""
    table = slots.stored()
    moments = sorted({now, timezone.now(), *(a.valid_until + delta for r in requests for a in r.approvals.all()
                                             for delta in (dt.timedelta(0), -dt.timedelta(microseconds=1)))})
    for request in requests:
        rows = table.get(request.pk, {})
        if request.status != "pending":
            assert rows == {}, request
            continue
        assert {role: slot.needed for role, slot in rows.items()} == {
            role: n for role, n in request.policy_rule["approvals"].items() if n > 0}
        version = request.version
        assert {slot.facts for slot in rows.values()} == {slots.Facts(
            request.expires_at, request.requested_by_id, version.model_id, version.created_at, version.created_by_id)}
        for moment in moments:
            open_now = {role for role, slot in rows.items() if slot.full_until is None or slot.full_until <= moment}
            assert open_now == set(rules.open_slots(request, moment)), (request, moment)
    assert slots.slots_rebuild() == 0
