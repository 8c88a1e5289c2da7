"""RegisteredModel: a model under governance, with its owner, risk tier and intended use."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel


class RiskTier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class EUAIActCategory(models.TextChoices):
    MINIMAL = "minimal", "Minimal risk"
    LIMITED = "limited", "Limited risk"
    HIGH = "high", "High risk"
    PROHIBITED = "prohibited", "Prohibited"


class RegisteredModel(GovernedModel):
    AUDIT_SCOPE = "self"

    name = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_models")
    # Developers assigned to the model besides its owner: they may register versions and ask
    # for promotions of this model; other developers may not.
    developers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="developed_models")
    business_unit = models.CharField(max_length=120, blank=True)
    intended_use = models.TextField(blank=True)
    out_of_scope_uses = models.TextField(blank=True)
    risk_tier = models.CharField(max_length=10, choices=RiskTier.choices, default=RiskTier.MEDIUM)
    eu_ai_act_category = models.CharField(
        max_length=12, choices=EUAIActCategory.choices, default=EUAIActCategory.MINIMAL
    )
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "registered model"
        indexes = [
            models.Index(fields=["risk_tier", "name"], name="regmodel_tier_name"),
            models.Index(fields=["business_unit", "name"], name="regmodel_bu_name"),
            models.Index(fields=["owner", "name"], name="regmodel_owner_name"),
        ]

    def __str__(self) -> str:
        return self.name
