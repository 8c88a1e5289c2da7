"""Workflow services: requests, withdrawal, re-validation and policy edits (decisions: governance.decisions)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import rfc8785
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import writer
from config.errors import Conflict, InvalidInput, NotFound
from governance import holds, policies, rules
from governance.decisions import (
    TEXT_MAX,
    approval_record,
    clean_text,
    end_request,
    lock_request,
    promotion_request_settle,
    promotion_requests_expire,
    settle,
)
from governance.models import Policy, PromotionRequest, RequestStatus, TargetStage
from governance.policies import default_rules, validate_rules
from governance.roles import APPROVER_ROLES
from registry.models import ModelVersion, Stage


def active_policy_or_none() -> Policy | None:
    """The policy in force, if any: the database holds at most one (constraint policy_one_active)."""
    return Policy.objects.filter(is_active=True).first()


def active_policy() -> Policy:
    policy = active_policy_or_none()
    if policy is None:
        raise NotFound("no active policy: a governance admin must activate one")
    return policy


def _freeze(policy: Policy, stage: str, tier: str) -> tuple[dict[str, Any], str]:
    rule = policy.rules[stage][tier]
    frozen = {"policy": policy.name, "version": policy.version, "stage": stage, "tier": tier, "rule": rule}
    return rule, hashlib.sha256(rfc8785.dumps(frozen)).hexdigest()


def promotion_request_create(
    *, version: ModelVersion, target_stage: str, justification: str, by: Any | None, is_revalidation: bool = False,
    trigger: str = "",
) -> PromotionRequest:
    if target_stage not in TargetStage.values:
        raise InvalidInput(f"target_stage must be one of {', '.join(TargetStage.values)}")
    justification = clean_text(justification, "justification")
    if not justification:
        raise InvalidInput("a justification is required")
    if by is not None:
        rules.require_may_request(by, version)
    if version.stage == Stage.ARCHIVED:
        raise Conflict("an archived version cannot be promoted; register a new version")
    if version.stage == target_stage and not is_revalidation:
        raise Conflict(f"version is already in {target_stage}")
    with writer.atomic():
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        if PromotionRequest.objects.filter(version=locked, target_stage=target_stage,
                                           status=RequestStatus.PENDING).exists():
            raise Conflict(f"a pending request to {target_stage} already exists for this version")
        if not is_revalidation:
            holds.require_no_hold(locked.model_id)
        policy = active_policy()
        rule, digest = _freeze(policy, target_stage, locked.model.risk_tier)
        request = PromotionRequest(
            version=locked, target_stage=target_stage, justification=justification, requested_by=by,
            is_revalidation=is_revalidation, trigger=trigger[:500], policy_name=policy.name,
            policy_version=policy.version, policy_rule=rule, policy_sha256=digest,
            expires_at=timezone.now() + policies.duration(rule, "request_ttl_days"),
        )
        writer.save(request, action="governance.promotionrequest.create")
        transaction.on_commit(lambda: notify_approvers(request.pk))
    return request


def promotion_request_withdraw(*, request: PromotionRequest, by: Any) -> PromotionRequest:
    with writer.atomic():
        request = lock_request(request.pk)
        rules.require_may_withdraw(by, request)
        now = timezone.now()
        settle(request, now)  # a request past its time to live is expired, not withdrawn
        if request.status != RequestStatus.PENDING:
            raise Conflict(f"the request is {request.status}; only a pending request can be withdrawn",
                           rule="request.decided")
        end_request(request, RequestStatus.WITHDRAWN, now, "governance.promotionrequest.withdraw")
    return request


def revalidation_open_due(*, now: dt.datetime | None = None) -> list[PromotionRequest]:
    """Open a re-validation request for each production version whose approval has run its course."""
    now = now or timezone.now()
    policy = active_policy_or_none()
    if policy is None:
        return []
    opened = []
    for version in ModelVersion.objects.filter(stage=Stage.PRODUCTION).select_related("model"):
        since = version.stage_changed_at or version.created_at
        due_after = policies.duration(policy.rules["production"][version.model.risk_tier], "revalidate_after_days")
        if now - since < due_after:
            continue
        if PromotionRequest.objects.filter(version=version, is_revalidation=True,
                                           status=RequestStatus.PENDING).exists():
            continue
        opened.append(promotion_request_create(
            version=version, target_stage=TargetStage.PRODUCTION, by=None, is_revalidation=True,
            justification=f"periodic re-validation: in production since {since:%Y-%m-%d}, "
                          f"due after {due_after.days} days",
        ))
    return opened


def notify_approvers(request_id: int) -> int:
    """E-mail everyone who could fill an open slot; runs after commit, never inside the transaction."""
    request = PromotionRequest.objects.select_related("version", "version__model").get(pk=request_id)
    now = timezone.now()
    codes = [APPROVER_ROLES[r] for r in rules.open_slots(request, now)]
    users = get_user_model().objects.filter(groups__role__code__in=codes, is_active=True).exclude(email="").distinct()
    recipients = sorted(u.email for u in users if rules.may_decide(u, request, now))
    if recipients:
        send_mail(
            subject=f"[modelgov] approval needed: {request.version} to {request.target_stage}",
            message=f"Request #{request.pk} awaits your decision.\n\nJustification: {request.justification}\n",
            from_email=None, recipient_list=recipients, fail_silently=True,
        )
    return len(recipients)


__all__ = ["TEXT_MAX", "approval_record", "promotion_request_settle", "promotion_requests_expire"]


def policy_create(*, by: Any | None, name: str, rules_: dict[str, Any] | None = None, description: str = "",
                  activate: bool = False) -> Policy:
    if by is not None:
        rules.require_policy_admin(by)
    if Policy.objects.filter(name=name).exists():
        raise Conflict(f"a policy named {name!r} already exists")
    description = clean_text(description, "description")
    policy = Policy(name=name, description=description, rules=validate_rules(rules_ or default_rules()),
                    updated_by=by)
    with writer.atomic():
        writer.save(policy, action="governance.policy.create")
        if activate:
            policy = policy_activate(policy=policy, by=by)
    return policy


def policy_update(*, policy: Policy, by: Any, rules_: dict[str, Any] | None = None,
                  description: str | None = None) -> Policy:
    rules.require_policy_admin(by)
    new_rules = validate_rules(rules_) if rules_ is not None else None
    new_description = clean_text(description, "description") if description is not None else None
    with writer.atomic():
        policy = Policy.objects.select_for_update().get(pk=policy.pk)
        if new_rules in (None, policy.rules) and new_description in (None, policy.description):
            return policy  # nothing changes: no new version, no entry
        if new_rules is not None:
            policy.rules = new_rules
        if new_description is not None:
            policy.description = new_description
        policy.version += 1
        policy.updated_by = by
        writer.save(policy, action="governance.policy.update")
    return policy


def policy_activate(*, policy: Policy, by: Any | None) -> Policy:
    """Put `policy` in force and take the one in force out of it, in one transaction; returns the policy
    as saved (the one passed in may have been loaded before another activation committed)."""
    if by is not None:
        rules.require_policy_admin(by)
    with writer.atomic():
        # Every policy row, in one order, before reading which is active: two activations then take turns,
        # and the second sees the policy the first activated. Locking only the active ones let each miss
        # the other's newly active policy, and both stayed in force.
        list(Policy.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
        for other in Policy.objects.select_for_update().filter(is_active=True).exclude(pk=policy.pk):
            other.is_active = False
            writer.save(other, action="governance.policy.deactivate")
        policy = Policy.objects.get(pk=policy.pk)
        policy.is_active = True
        try:
            writer.save(policy, action="governance.policy.activate")
        except IntegrityError as exc:
            # Two policies created and put in force at once with no policy before them share no row to lock;
            # the constraint (policy_one_active) refuses the second.
            raise Conflict("another policy was put in force at the same moment; nothing was changed: "
                           "try again") from exc
    return policy


def ensure_default_policy(**kwargs: Any) -> None:
    """The shipped default policy, created once after migrate (by a system actor, audited)."""
    from audit.context import audit_context, system_actor

    if Policy.objects.exists():
        return
    with audit_context(actor=system_actor("policy setup"), channel="system"):
        policy_create(by=None, name="default", description="The shipped default policy (docs/policies.md).",
                      activate=True)
