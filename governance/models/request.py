"""Promotion requests and the approvals given on them, each bound to the evidence it saw."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel
from registry.models import ModelVersion


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"


class TargetStage(models.TextChoices):
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class ApproverRole(models.TextChoices):
    VALIDATOR = "validator", "Model validator"
    RISK_OFFICER = "risk_officer", "Risk officer"
    COMPLIANCE_OFFICER = "compliance_officer", "Compliance officer"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class PromotionRequest(GovernedModel):
    AUDIT_SCOPE = "version"
    # What the request asked for and the rule it is judged by, frozen when it was made.
    IMMUTABLE_FIELDS = ("version", "target_stage", "justification", "requested_by", "is_revalidation", "trigger",
                        "policy_name", "policy_version", "policy_rule", "policy_sha256", "created_at", "expires_at")
    AUDIT_SET_ONCE = ("decided_at",)

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotion_requests")
    target_stage = models.CharField(max_length=12, choices=TargetStage.choices)
    justification = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="promotion_requests"
    )
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    is_revalidation = models.BooleanField(default=False)
    # What opened a re-validation other than a person or the calendar: a monitoring breach, named (blank: neither).
    trigger = models.CharField(max_length=500, blank=True, default="")
    # The policy in force when the request was made, frozen: later edits do not reach it.
    policy_name = models.CharField(max_length=100)
    policy_version = models.PositiveIntegerField()
    policy_rule = models.JSONField()
    policy_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When the request lapses (created_at + the frozen rule's request_ttl_days): every decision checks it.
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    # What the decision was made on, frozen by the service that ended the request: each gate's result, and the
    # latest evidence of each kind (by id and digest) at that moment. Evidence that succeeds later is not in it.
    decision_gates = models.JSONField(default=list, blank=True)
    decision_evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="promreq_status_created"),
            models.Index(fields=["version", "target_stage", "status"], name="promreq_version_stage"),
            # Lists page newest first: without it every page sorted all 20,000 requests.
            models.Index(fields=["-created_at", "-id"], name="promreq_created_id"),
        ]

    def __str__(self) -> str:
        return f"Request #{self.pk}: version {self.version_id} to {self.target_stage}"


class Approval(GovernedModel):
    AUDIT_SCOPE = "request"
    # A decision as given, and what it was given on; only its lapse comes later, once.
    IMMUTABLE_FIELDS = ("request", "approver", "role", "decision", "comment", "artifact_sha256", "evidence_digests",
                        "created_at", "valid_until")
    AUDIT_SET_ONCE = ("lapsed_at",)

    request = models.ForeignKey(PromotionRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals")
    role = models.CharField(max_length=20, choices=ApproverRole.choices)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    # What the approver saw: the artifact and every evidence report, by digest.
    artifact_sha256 = models.CharField(max_length=64)
    evidence_digests = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    # When it stops counting (created_at + the frozen rule's approval_valid_hours), lapsed or not.
    valid_until = models.DateTimeField()
    lapsed_at = models.DateTimeField(null=True, blank=True)
    lapse_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["request", "lapsed_at"], name="approval_request_active"),
            # "Not one of theirs already counted", for a whole queue at once: read from the index alone.
            models.Index(fields=["approver", "request", "valid_until"], name="approval_counted_by_approver",
                         condition=models.Q(decision="approve", lapsed_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.approver_id} as {self.role} on request {self.request_id}"


class OpenSlot(models.Model):
    """One role a pending request's frozen rule asks approvals of, and until when its slots are all filled: a table
    derived from the request, its version and its approvals (governance.slots keeps it, in the transaction of every
    save of a request or an approval, and rebuilds it), not a governed row: it records nothing they do not say.

    Slots of `role` are open at `now` when `full_until` is null (fewer counted approvals than `needed`) or not after
    `now` (the `needed`-th latest validity has run out), so time is still judged when the queue is read. Beside them,
    copies of what "may decide" reads of the request and its version, none of which changes after they are made but
    `expires_at` and `requested_by` (copied again on every save of the request): the queue's count then reads this
    table alone (rules.awaiting_ids)."""

    # Found by request through the unique (request, role) index: no index of its own.
    request = models.ForeignKey(PromotionRequest, on_delete=models.CASCADE, related_name="open_slots", db_index=False)
    role = models.CharField(max_length=20, choices=ApproverRole.choices)
    needed = models.PositiveSmallIntegerField()
    full_until = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING,
                                     db_index=False, related_name="+")
    model = models.ForeignKey("registry.RegisteredModel", on_delete=models.DO_NOTHING, db_index=False,
                              related_name="+")
    registered_at = models.DateTimeField()
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_index=False,
                                      related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "role"], name="openslot_one_per_role")]
        # The queue: one role's rows with no validity at all, and those whose validity has run out by now.
        indexes = [models.Index(fields=["role", "full_until"], name="openslot_role_full_until")]

    def __str__(self) -> str:
        return f"{self.role} on request {self.request_id}: {self.needed} needed, full until {self.full_until}"
