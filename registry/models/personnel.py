"""Who answered for a model, and when: each spell as its owner or as one of its developers, kept for good."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel
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
