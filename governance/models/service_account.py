"""Service accounts: the accounts CI pipelines act as, each owned by a person who answers for it."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel


class ServiceAccount(GovernedModel):
    """Marks `user` as a service account. It signs in with tokens only (no usable password), holds only the
    roles open to service accounts (never an approver's nor an admin's), and never decides; its `owner`, a
    person, answers for what it does and may make and revoke its tokens."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="service_account")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="owned_service_accounts")
    purpose = models.CharField(max_length=300)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"service account {self.user} (owner {self.owner})"
