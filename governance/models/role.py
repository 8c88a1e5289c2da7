"""Roles by their code: the group that carries a role's permissions and members, bound to it for good."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db import models

from audit.governed import GovernedModel
from config.errors import PermissionDenied


class Role(GovernedModel):
    """A role of model risk management. Every check reads `code`, which never changes; the group's name is
    only how people see it. A role row is written once and never changed nor deleted: binding a code to
    another group would be the rename attack by another route."""

    # And the database refuses it too, entry or no entry (audit.row_guards): rules read roles by code through here.
    DATABASE_FIXED = ("code", "group")
    DATABASE_KEPT = True

    code = models.SlugField(primary_key=True, max_length=40)
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="role")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def label(self) -> str:
        return str(self.group.name)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionDenied(f"role {self.code} is bound to its group for good", rule="role.immutable")
        # An explicit primary key would otherwise let save() update an existing role's row.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionDenied(f"role {self.code} is never deleted", rule="role.immutable")
