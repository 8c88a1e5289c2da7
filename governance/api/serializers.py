"""Input and output serializers of the governance API."""

from __future__ import annotations

from rest_framework import serializers

from config.json_input import JSONValueField
from config.strict_input import IdField, RefuseUnknownFields
from governance.models import (
    Approval,
    ApproverRole,
    Decision,
    Policy,
    PromotionRequest,
    ServiceAccount,
    TargetStage,
)
from governance.roles import SERVICE_ACCOUNT_ROLES
from registry.models import ModelVersion


class ApprovalOut(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = Approval
        fields = ["id", "approver", "role", "decision", "comment", "artifact_sha256", "evidence_digests",
                  "created_at", "lapsed_at", "lapse_reason"]


class RequestOut(serializers.ModelSerializer):
    model = serializers.CharField(source="version.model.name")
    version_number = serializers.IntegerField(source="version.version")
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    approvals = ApprovalOut(many=True)

    class Meta:
        model = PromotionRequest
        fields = ["id", "version", "model", "version_number", "target_stage", "justification", "requested_by",
                  "status", "is_revalidation", "policy_name", "policy_version", "policy_rule", "policy_sha256",
                  "approvals", "created_at", "decided_at"]


class GateOut(serializers.Serializer):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    detail = serializers.CharField()


class MetricClaimOut(serializers.Serializer):
    metric = serializers.CharField()
    declared = serializers.FloatField(allow_null=True, help_text="what the developer declared at registration")
    measured = serializers.FloatField(allow_null=True, help_text="what the performance report measured")
    difference = serializers.FloatField(allow_null=True, help_text="declared minus measured")
    flagged = serializers.BooleanField(help_text="the difference is beyond the tolerance")
    note = serializers.CharField(required=False)


class MetricClaimsOut(serializers.Serializer):
    version = serializers.IntegerField()
    measured_by_report = serializers.IntegerField(allow_null=True, help_text="the performance report's id")
    not_measured_reason = serializers.CharField(allow_null=True)
    tolerance = serializers.FloatField(help_text="METRIC_CLAIM_TOLERANCE: larger differences are flagged")
    flagged = serializers.ListField(child=serializers.CharField())
    metrics = MetricClaimOut(many=True)


class RequestDetailOut(RequestOut):
    gates = GateOut(many=True, read_only=True, help_text="Pending: as they stand now. Decided: frozen at the decision.")
    open_slots = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    evidence = serializers.DictField(read_only=True, help_text="Pending: the latest report of each kind now. "
                                     "Decided: the latest of each kind at the decision.")
    evidence_not_reviewed = serializers.ListField(
        child=serializers.DictField(), read_only=True,
        help_text="Decided: reports no counted decision was bound to, among those at the decision and every report "
                  "that succeeded after it. Empty while pending.")
    you_may_act_as = serializers.ListField(child=serializers.CharField(), read_only=True)
    metric_claims = serializers.DictField(read_only=True, help_text="declared metrics beside the measured ones")

    class Meta(RequestOut.Meta):
        fields = [*RequestOut.Meta.fields, "expires_at", "gates", "open_slots", "evidence", "evidence_not_reviewed",
                  "you_may_act_as", "metric_claims"]


class RequestIn(serializers.Serializer):
    version = IdField(queryset=ModelVersion.objects.select_related("model"))
    target_stage = serializers.ChoiceField(choices=TargetStage.choices)
    justification = serializers.CharField(max_length=10000)


class DecisionIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=ApproverRole.choices)
    comment = serializers.CharField(max_length=10000, required=False, allow_blank=True, default="")


class RejectIn(DecisionIn):
    comment = serializers.CharField(max_length=10000)


class PolicyOut(serializers.ModelSerializer):
    updated_by = serializers.CharField(source="updated_by.username", allow_null=True, default=None)

    class Meta:
        model = Policy
        fields = ["id", "name", "description", "version", "is_active", "rules", "updated_by", "created_at",
                  "updated_at"]


class PolicyIn(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    rules = JSONValueField(required=False)
    activate = serializers.BooleanField(required=False, default=False)


class PolicyEdit(RefuseUnknownFields):
    description = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    rules = JSONValueField(required=False)


class TokenIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    lifetime_days = serializers.IntegerField(min_value=1, max_value=365, required=False, default=90)


class TokenOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class TokenCreatedOut(TokenOut):
    key = serializers.CharField(help_text="shown once; store it now")


class ServiceAccountOut(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    owner = serializers.CharField(source="owner.username")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    roles = serializers.SerializerMethodField()

    class Meta:
        model = ServiceAccount
        fields = ["id", "username", "owner", "purpose", "roles", "created_by", "created_at", "disabled_at"]

    def get_roles(self, obj: ServiceAccount) -> list[str]:
        return sorted(group.role.code for group in obj.user.groups.all() if hasattr(group, "role"))


class ServiceAccountIn(RefuseUnknownFields):
    username = serializers.CharField(max_length=150)
    owner = serializers.CharField(max_length=150, help_text="the username of the person who answers for it")
    purpose = serializers.CharField(max_length=300)
    roles = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list,
                                  help_text="role codes; a service account may hold only "
                                            + ", ".join(sorted(SERVICE_ACCOUNT_ROLES)))


__all__ = ["Decision"]
