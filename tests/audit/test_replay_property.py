"""A property (issue 22, Tests): after any random sequence of service calls, refused ones included, the state
the log says equals the tables (audit.reconcile), and the spans "as of" reads (audit.history), caught up along
the way, are exactly those the entries give."""

from __future__ import annotations

import random
from typing import Any

import pytest

from audit import history
from audit.context import audit_context, user_actor
from audit.reconcile import reconcile
from config.errors import DomainError
from governance import accounts, decisions, services, tokens
from governance.models import ApiToken, Policy, PromotionRequest
from registry.models import ModelVersion, RegisteredModel
from registry.services import model as model_services
from tests.factories import csv_bytes, make_dataset_version, make_model, make_version
from tests.governance.helpers import People, full_evidence

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ROLES = {"validator": "val", "risk_officer": "risk", "compliance_officer": "comp"}


class World:
    def __init__(self, people: People, rng: random.Random) -> None:
        self.p, self.rng = people, rng
        self.devs = [people.dev, people.dev2, people.multi]
        self.deciders = [people.val, people.val2, people.risk, people.comp, people.multi, people.dev]
        self.n = 0

    def pick(self, items: Any) -> Any:
        items = list(items)
        return self.rng.choice(items) if items else None

    def as_(self, user: Any) -> Any:
        return audit_context(actor=user_actor(user), channel="api")

    # Each step may be refused (a DomainError): a refusal must leave nothing behind either.
    def model_create(self) -> None:
        self.n += 1
        model = make_model(self.pick(self.devs), f"m{self.n}", risk_tier=self.pick(["high", "medium", "low"]))
        if self.rng.random() < 0.5:
            self.developers(model)

    def developers(self, model: Any = None) -> None:
        model = model or self.pick(RegisteredModel.objects.all())
        if model is None:
            return
        with self.as_(model.owner):
            model_services.registered_model_set_developers(
                model=model, developers=self.rng.sample(self.devs + [self.p.val2], self.rng.randint(0, 2)),
                by=model.owner)

    def model_update(self) -> None:
        model = self.pick(RegisteredModel.objects.all())
        if model is not None:
            with self.as_(model.owner):
                model_services.registered_model_update(model=model, by=model.owner,
                                                       description=f"edit {self.rng.random():.6f}")

    def version(self) -> None:
        model = self.pick(RegisteredModel.objects.all())
        if model is not None and model.versions.count() < 2:
            # Its held-out data named at registration, as the service records it (the evidence helper would
            # otherwise name one by a shortcut that writes no entry).
            held_out = make_dataset_version(model.owner, name=f"held-out-{model.pk}", content=csv_bytes(rows=33))
            version = make_version(model, model.owner, seed=self.rng.randint(0, 3), metrics={"roc_auc": 0.8},
                                   evaluation_datasets=[held_out])
            full_evidence(version, verdict=self.pick(["pass", "pass", "fail"]))

    def dataset(self) -> None:
        make_dataset_version(self.pick(self.devs), name=self.pick(["a", "b"]))

    def request(self) -> None:
        version = self.pick(ModelVersion.objects.all())
        if version is not None:
            by = self.pick([version.created_by, version.model.owner])
            with self.as_(by):
                services.promotion_request_create(version=version, target_stage=self.pick(["staging", "production"]),
                                                  justification="property", by=by)

    def decide(self) -> None:
        request = self.pick(PromotionRequest.objects.filter(status="pending"))
        if request is not None:
            role, by = self.pick(ROLES), self.pick(self.deciders)
            with self.as_(by):
                decisions.approval_record(request=request, by=by, role=role,
                                          decision=self.pick(["approve", "approve", "approve", "reject"]))

    def withdraw(self) -> None:
        request = self.pick(PromotionRequest.objects.filter(status="pending"))
        if request is not None:
            with self.as_(request.requested_by):
                services.promotion_request_withdraw(request=request, by=request.requested_by)

    def role(self) -> None:
        user = self.pick([self.p.val2, self.p.multi, self.p.comp, self.p.dev2])
        code = self.pick(["model_validator", "risk_officer", "compliance_officer"])
        with self.as_(self.p.gov):
            (accounts.role_grant if self.rng.random() < 0.5 else accounts.role_revoke)(role=code, user=user,
                                                                                      by=self.p.gov)

    def token(self) -> None:
        user = self.pick(self.devs)
        live = ApiToken.objects.filter(user=user, revoked_at__isnull=True).first()
        with self.as_(user):
            if live is not None and self.rng.random() < 0.5:
                tokens.token_revoke(token=live, by=user)
            else:
                tokens.token_create(user=user, by=user, name=f"t{self.rng.randint(0, 999)}")

    def policy(self) -> None:
        policy = Policy.objects.get(is_active=True)
        rules = policy.rules
        rules["production"]["high"]["approvals"] = self.pick([{"validator": 1}, {"validator": 2},
                                                                {"validator": 1, "risk_officer": 1}])
        with self.as_(self.p.gov):
            services.policy_update(policy=policy, by=self.p.gov, rules_=rules)


STEPS = ["model_create", "model_create", "developers", "model_update", "version", "version", "dataset", "request",
         "request", "decide", "decide", "decide", "withdraw", "role", "token", "policy"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_service_calls_replay_to_the_tables(make_user: Any, seed: int) -> None:
    rng = random.Random(seed)
    world = World(People(make_user), rng)
    done, refused = 0, 0
    for step in range(40):
        try:
            getattr(world, rng.choice(STEPS))()
            done += 1
        except DomainError:
            refused += 1
        if step % 7 == 3:
            history.catch_up()  # the spans folded in bursts, as readers fold them
    assert done > 20
    assert [str(d) for d in reconcile()] == []
    history.catch_up()
    assert [str(d) for d in history.check()] == []
