"""The base for governed models: writes only through the audit writer, bulk writes refused."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from audit.models import UnauditedWriteError

_BULK_REFUSED = (
    "bulk {op} on {model} is refused: it would change rows without audit entries; "
    "use the service functions, which record one entry per object"
)


class GovernedQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise UnauditedWriteError(_BULK_REFUSED.format(op="update", model=self.model.__name__))

    def delete(self) -> tuple[int, dict[str, int]]:
        raise UnauditedWriteError(_BULK_REFUSED.format(op="delete", model=self.model.__name__))

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        raise UnauditedWriteError(_BULK_REFUSED.format(op="create", model=self.model.__name__))

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise UnauditedWriteError(_BULK_REFUSED.format(op="update", model=self.model.__name__))

    def _raw_delete(self, using: Any) -> int:
        raise UnauditedWriteError(_BULK_REFUSED.format(op="delete", model=self.model.__name__))


class GovernedModel(models.Model):
    """A model whose every save and delete is made by `audit.writer` with its entry."""

    # Fields left out of `changes` (bookkeeping that changes on every save).
    AUDIT_EXCLUDE: ClassVar[tuple[str, ...]] = ("updated_at",)
    # Fields whose values never reach the log; their change is recorded as "<redacted>".
    AUDIT_SECRETS: ClassVar[tuple[str, ...]] = ()

    objects = GovernedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> Any:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._audit_snapshot = instance.audit_values()  # type: ignore[attr-defined]
        return instance

    def audit_values(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.attname)
            for f in self._meta.concrete_fields
            if f.name not in self.AUDIT_EXCLUDE and f.attname in self.__dict__
        }

    def save(self, *args: Any, **kwargs: Any) -> None:
        from audit import writer

        if not writer.governed_write_permitted():
            raise UnauditedWriteError(
                f"{type(self).__name__} must be saved through a service (audit.writer.save), "
                "so that the change and its audit entry are one transaction"
            )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        from audit import writer

        if not writer.governed_write_permitted():
            raise UnauditedWriteError(
                f"{type(self).__name__} must be deleted through a service (audit.writer.delete)"
            )
        return super().delete(*args, **kwargs)


def _refuse_unaudited_m2m(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    from audit import writer

    related = kwargs.get("model")
    governed = isinstance(instance, GovernedModel) or (
        isinstance(related, type) and issubclass(related, GovernedModel)
    )
    if action.startswith("pre_") and governed and not writer.governed_write_permitted():
        raise UnauditedWriteError(
            f"many-to-many changes on {type(instance).__name__} go through its service, which records them"
        )


def connect() -> None:
    from django.db.models.signals import m2m_changed

    m2m_changed.connect(_refuse_unaudited_m2m, dispatch_uid="audit-governed-m2m")
