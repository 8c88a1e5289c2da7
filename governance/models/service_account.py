"""Service accounts: the accounts CI pipelines act as, each owned by a person who answers for it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel
from config.errors import PermissionDenied


class ServiceAccount(GovernedModel):
    """Marks `user` as a service account. It signs in with tokens only (no usable password), holds only the
    roles open to service accounts (never an approver's nor an admin's), and never decides; its `owner`, a
    person, answers for what it does and may make and revoke its tokens."""

    # Separation of duties finds a pipeline by its owner (rules.answers_for): the database refuses to move it to
    # another, or to delete it, entry or no entry (audit.row_guards).
    DATABASE_FIXED = ("user", "owner")
    DATABASE_KEPT = True

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

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Once made, an account keeps its user and its owner and, once disabled, stays disabled: separation of
        duties reads who owns it now (governance.rules.answers_for) as who owned it always, so moving it to
        another owner would clear the first of what the pipeline did, and reviving it would bring back a
        pipeline whose tokens were revoked. Only `purpose` and `disabled_at` (once) change."""
        if not self._state.adding:
            row = (type(self)._base_manager.filter(pk=self.pk)
                   .values("user_id", "owner_id", "created_by_id", "disabled_at").first())
            if row is not None and (
                (row["user_id"], row["owner_id"], row["created_by_id"]) != (self.user_id, self.owner_id,
                                                                            self.created_by_id)
                or (row["disabled_at"] is not None and row["disabled_at"] != self.disabled_at)
            ):
                raise PermissionDenied(f"{self} keeps its account and its owner, and stays disabled once disabled: "
                                       "make a new service account instead", rule="service_account.immutable")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionDenied(f"{self} is never deleted (its account would become a person's): disable it",
                               rule="service_account.immutable")
