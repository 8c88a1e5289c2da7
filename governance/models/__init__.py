"""Governance models: API tokens, policies, promotion requests, approvals."""

from governance.models.token import ApiToken

__all__ = ["ApiToken"]
