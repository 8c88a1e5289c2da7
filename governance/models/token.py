"""API tokens: stored only as a SHA-256 digest, with expiry and revocation."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.governed import GovernedModel


class ApiToken(GovernedModel):
    AUDIT_SECRETS = ("key_hash",)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The first characters of the token, shown so a user can tell tokens apart.
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
