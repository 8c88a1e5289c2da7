"""Who answered for a model, and when: each spell as its owner or as one of its developers, kept for good."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel
from config.errors import PermissionDenied
from registry.models.model import RegisteredModel


class PersonnelRole(models.TextChoices):
    OWNER = "owner", "Owner"
    DEVELOPER = "developer", "Developer"


class ModelPersonnel(GovernedModel):
    """One spell of a person as a model's owner or developer: opened when they became it, closed when they stopped.

    Append-only in effect: a spell is opened once and closed once, by the registry services in the transaction of
    the change (each with its entry), and never deleted while the model exists. Separation of duties reads it
    (governance.rules): whoever held either role at any moment since a version was registered may not decide on
    that version's promotion, whatever the model's current row says.
    """

    IMMUTABLE_FIELDS = ("model", "user", "role", "started_at")
    AUDIT_SET_ONCE = ("ended_at",)
    AUDIT_SCOPE = "model"
    # Found by its model and person: the database itself refuses to move it off them, or to delete it while the
    # model has versions (require_as_made judges the spells there are; one taken away it could not see).
    DATABASE_FIXED = ("model", "user")
    DATABASE_KEPT = "model.versions"

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="personnel")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="model_spells")
    role = models.CharField(max_length=10, choices=PersonnelRole.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "model personnel spell"
        ordering = ["model", "started_at", "id"]
        indexes = [
            # The rule's question, "was this person ever on this model since then?", for one request or a queue.
            models.Index(fields=["user", "model", "ended_at"], name="personnel_user_model"),
            models.Index(fields=["model", "ended_at"], name="personnel_model_open"),
        ]
        constraints = [
            # One open spell per person and role on a model: a second would never be closed.
            models.UniqueConstraint(fields=["model", "user", "role"], condition=models.Q(ended_at__isnull=True),
                                    name="personnel_one_open_spell"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} as {self.role} of model {self.model_id}"

    def _refused(self, what: str) -> PermissionDenied:
        return PermissionDenied(f"the record of model {self.model_id}'s people is kept as it happened: {what}",
                                rule="personnel.immutable")

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A spell changes once, when it ends, and never back before a version of its model was registered:
        separation of duties asks whether someone was on the model at any moment since a version's registration,
        so an end moved earlier, a start moved later or a spell given to someone else would clear them."""
        if not self._state.adding:
            row = type(self)._base_manager.filter(pk=self.pk).values(
                "model_id", "user_id", "role", "started_at", "ended_at").first()
            if row is not None:
                if (row["model_id"], row["user_id"], row["role"], row["started_at"]) != (
                        self.model_id, self.user_id, self.role, self.started_at):
                    raise self._refused("a spell keeps its model, person, role and start")
                if row["ended_at"] is not None and row["ended_at"] != self.ended_at:
                    raise self._refused("a spell that ended stays ended when it did")
                last = self.model.versions.aggregate(last=models.Max("created_at"))["last"]
                if self.ended_at is not None and (self.ended_at < self.started_at
                                                  or (last is not None and self.ended_at < last)):
                    raise self._refused("a spell ends after it started and after the model's last registration")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self.model.versions.exists():
            raise self._refused("its spells go only with a model that has no versions")
        return super().delete(*args, **kwargs)
