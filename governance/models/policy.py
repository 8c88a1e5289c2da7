"""Policies: per target stage and risk tier, the approvals, evidence and thresholds a promotion needs."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel


class Policy(GovernedModel):
    """A named, versioned rule set; every edit bumps `version` and is in the audit log with old and new rules."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=False)
    # {"staging"|"production": {"low"|"medium"|"high"|"critical": rule}}; see docs/policies.md.
    rules = models.JSONField(default=dict)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["name"]
        constraints = [
            # One policy in force at most, whatever writes the rows: every request freezes "the" policy.
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True),
                                    name="policy_one_active"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
