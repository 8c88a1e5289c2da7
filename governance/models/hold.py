"""A hold on a model's promotions: opened by a red monitoring breach where the plan says "hold", released only by
a validator's recorded review of the breach."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel
from registry.models import RegisteredModel


class PromotionHold(GovernedModel):
    AUDIT_SCOPE = "model"
    IMMUTABLE_FIELDS = ("model", "reason", "opened_at")
    AUDIT_SET_ONCE = ("released_at", "released_by", "review")

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="promotion_holds")
    # What opened it, in words a reviewer can act on (the breach: evaluation, measurements, thresholds).
    reason = models.TextField()
    opened_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    review = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["model", "released_at"], name="hold_model_open")]

    def __str__(self) -> str:
        state = "open" if self.released_at is None else "released"
        return f"Hold #{self.pk} on model {self.model_id} ({state})"
