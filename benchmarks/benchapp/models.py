"""Three copies of one small business object: plain, governed by our log, and logged by django-auditlog."""

from __future__ import annotations

from django.db import models

from audit.governed import GovernedModel


class _Fields(models.Model):
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="draft")
    amount = models.IntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name


class PlainThing(_Fields):
    pass


class GovernedThing(_Fields, GovernedModel):
    pass


class AuditlogThing(_Fields):
    pass
