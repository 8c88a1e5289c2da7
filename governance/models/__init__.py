"""Governance models: roles, service accounts, API tokens, policies, promotion requests, approvals."""

from governance.models.hold import PromotionHold
from governance.models.policy import Policy
from governance.models.request import (
    Approval,
    ApproverRole,
    Decision,
    OpenSlot,
    PromotionRequest,
    RequestStatus,
    TargetStage,
)
from governance.models.role import Role
from governance.models.service_account import ServiceAccount
from governance.models.token import ApiToken

__all__ = ["ApiToken", "Approval", "ApproverRole", "Decision", "OpenSlot", "Policy", "PromotionHold",
           "PromotionRequest", "RequestStatus", "Role", "ServiceAccount", "TargetStage"]
