"""API tokens: stored only as a SHA-256 digest, with expiry and revocation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.governed import GovernedModel
from config.errors import PermissionDenied


class ApiToken(GovernedModel):
    AUDIT_SECRETS = ("key_hash",)
    # What save() refuses to change (see there), said again to the replay of the log.
    AUDIT_SET_ONCE = ("user", "prefix", "key_hash", "expires_at", "revoked_at")

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

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A token changes once, by being revoked: a revoked token that could be revived, given a later end or
        another user would outlive its revocation or act as someone else."""
        if not self._state.adding:
            row = type(self)._base_manager.filter(pk=self.pk).values(
                "user_id", "key_hash", "prefix", "expires_at", "revoked_at").first()
            if row is not None and (
                (row["user_id"], row["key_hash"], row["prefix"], row["expires_at"])
                != (self.user_id, self.key_hash, self.prefix, self.expires_at)
                or (row["revoked_at"] is not None and row["revoked_at"] != self.revoked_at)
            ):
                raise PermissionDenied(f"token {self} changes only by being revoked, once: make a new one",
                                       rule="token.immutable")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionDenied(f"token {self} is never deleted: revoke it", rule="token.immutable")

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
