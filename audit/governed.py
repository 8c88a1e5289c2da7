"""The base for governed models: writes only through the audit writer, bulk writes refused."""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import connections, models

from audit import permits, replay
from audit.models import UnauditedWriteError

_BULK_REFUSED = "bulk {op} on {model} is refused: it would change rows without audit entries; {hint}"


# Where from_db keeps a row's loaded values until its audit snapshot is first read.
_LOADED = "_audit_loaded"
# Where the writer leaves, for one save, the values the changed fields must still hold (see _do_update).
EXPECTED = "_audit_expected"


@cache
def _file_fields(model: type[models.Model]) -> tuple[tuple[str, str], ...]:
    return tuple((f.name, f.attname) for f in model._meta.concrete_fields if isinstance(f, models.FileField))


@cache
def _json_attnames(model: type[models.Model]) -> frozenset[str]:
    return frozenset(f.attname for f in model._meta.concrete_fields if isinstance(f, models.JSONField))


def _detached(value: Any) -> Any:
    """A copy of a JSON list or object loaded from the database (a C round trip: faster than deepcopy,
    and exact for what the database gave back)."""
    return json.loads(json.dumps(value)) if type(value) in (list, dict) else value


def _loaded_file_fields(model: type[models.Model], field_names: Any) -> tuple[tuple[str, str], ...]:
    """(name, attname) of a row's loaded file fields (their descriptor turns the stored name into a FieldFile
    when read)."""
    fields = _file_fields(model)
    return tuple(pair for pair in fields if pair[1] in field_names) if fields else ()


class NoBulkWritesQuerySet(models.QuerySet):
    """Bulk writes send no signal and pass no writer: they would change rows with no entry, so they are
    refused. (Users' and roles' querysets are these: their delete() is kept, since Django deletes such
    rows one by one with their signals, each recorded.)"""

    bulk_hint = "save() each object, which records its entry"

    def _refused(self, op: str) -> UnauditedWriteError:
        return UnauditedWriteError(_BULK_REFUSED.format(op=op, model=self.model.__name__, hint=self.bulk_hint))

    def update(self, **kwargs: Any) -> int:
        raise self._refused("update")

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        raise self._refused("create")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise self._refused("update")


class GovernedQuerySet(NoBulkWritesQuerySet):
    bulk_hint = "use the service functions, which record one entry per object"

    def delete(self) -> tuple[int, dict[str, int]]:
        raise self._refused("delete")

    def _raw_delete(self, using: Any) -> int:
        raise self._refused("delete")


# What a field set once (AUDIT_SET_ONCE) holds until it is set: null, or a blank text column's "" (the replay's too).
UNSET = replay.UNSET


class GovernedModel(models.Model):
    """A model whose every save and delete is made by `audit.writer` with its entry."""

    # Fields left out of `changes` (bookkeeping that changes on every save).
    AUDIT_EXCLUDE: ClassVar[tuple[str, ...]] = ("updated_at",)
    # Fields whose values never reach the log; their change is recorded as "<redacted>".
    AUDIT_SECRETS: ClassVar[tuple[str, ...]] = ()
    # Fields set when the object is made, or once after (a token's owner, key hash, revocation), and never changed
    # again: the replay keeps the first value the log recorded (for a secret, its digest), whatever a later entry
    # says, so a later change is named by `audit verify` even under an entry that claims it.
    AUDIT_SET_ONCE: ClassVar[tuple[str, ...]] = ()  # unset: None or "" (UNSET)
    # Fields fixed when the object is made (a version's artifact, a request's frozen rule, an approval's decision):
    # the writer refuses a save that changes one (every channel), the replay keeps what the creation recorded, and
    # a decision reads them only once they are found equal to it (audit.recorded.require_as_made).
    IMMUTABLE_FIELDS: ClassVar[tuple[str, ...]] = ()
    # Fields kept as they were when a field set once was set ({that field: (these, ...)}): a report's status and
    # finish time once its digest is, so a report that succeeded cannot be made to read as failed or as older.
    AUDIT_SET_WITH: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Fields left out of the entries (too large to repeat there) but bound to a field that is in them: the SHA-256
    # of the field's RFC 8785 bytes must equal that field's value once it is set ({field: digest field}).
    # `audit verify` checks the binding, so the entries bind the value through its digest.
    AUDIT_DIGESTED: ClassVar[dict[str, str]] = {}
    # Which registered model an object belongs to, for the state as of an instant (audit.history): the
    # field naming the object whose model it shares (a version's "model", a request's "version"), or
    # "self" for the registered model itself; None for what belongs to no model.
    AUDIT_SCOPE: ClassVar[str | None] = None
    # Held by the database itself (audit.row_guards), for rows a decision finds by a column: what it cannot find it
    # cannot see changed, so require_as_made would never be asked. DATABASE_FIXED: columns the database refuses to
    # change (a spell's model, a report's version, a service account's owner, a role's group). DATABASE_KEPT: True,
    # a row the database refuses to delete; "field.related_name", refused while the object `field` names has rows
    # of that relation (a spell goes only with a model that has no versions).
    DATABASE_FIXED: ClassVar[tuple[str, ...]] = ()
    DATABASE_KEPT: ClassVar[bool | str] = False
    # Fields only a decision changes: the writer refuses to change one, or to make an object with one other than
    # its default, outside `permits.deciding()` (a version's stage moves only when a request is approved), and the
    # log's replay takes a change of one only from an entry of DECIDED_VERB (audit.replay): one written by SQL
    # under an entry of another verb is named by `audit verify`.
    DECIDED_FIELDS: ClassVar[tuple[str, ...]] = ()
    DECIDED_VERB: ClassVar[str] = ""

    objects = GovernedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> Any:
        """The loaded values are kept as loaded; the audit snapshot (what the writer diffs an update
        against) is made from them the first time it is read. Lists load many rows and update none:
        building a dict per row cost more than the rest of the row. JSON lists and objects are copied
        now. File fields are read now, as the eager snapshot read them: the snapshot shares the
        instance's FieldFile, exactly as before."""
        instance = super().from_db(db, field_names, values, **kwargs)
        files = tuple((name, getattr(instance, attname)) for name, attname in _loaded_file_fields(cls, field_names))
        json_attnames = _json_attnames(cls)
        if json_attnames:
            # The instance holds the loaded lists and dicts; the snapshot must not share them, or a
            # change made in place (version.metrics["auc"] = 0.99) would be in both and never recorded.
            values = tuple(_detached(v) if name in json_attnames else v
                           for name, v in zip(field_names, values, strict=True))
        instance.__dict__[_LOADED] = (field_names, values, files)
        return instance

    def _loaded_snapshot(self) -> dict[str, Any] | None:
        """audit_values() as it was when the row was loaded, from the values kept by from_db (None if not loaded
        from the database)."""
        loaded = self.__dict__.pop(_LOADED, None)
        if loaded is None:
            return None
        field_names, values, files = loaded
        fields = self._meta.concrete_fields
        # Paired with the fields as Model.from_db pairs them: all of them, or the loaded ones in field order.
        pairs = zip(fields, values, strict=True) if len(values) == len(fields) else zip(
            (f for f in fields if f.attname in field_names), values, strict=True)
        snapshot = {f.name: value for f, value in pairs if f.name not in self.AUDIT_EXCLUDE}
        for name, value in files:
            if name in snapshot:
                snapshot[name] = value
        return snapshot

    if not TYPE_CHECKING:  # for mypy the writer's own attribute, as it was; at run time made on first read
        @property
        def _audit_snapshot(self) -> dict[str, Any]:
            snapshot = self.__dict__.get("_audit_snapshot")
            if snapshot is None:
                snapshot = self._loaded_snapshot()
                if snapshot is None:
                    raise AttributeError("_audit_snapshot")
                self.__dict__["_audit_snapshot"] = snapshot
            return snapshot

        @_audit_snapshot.setter
        def _audit_snapshot(self, value: dict[str, Any]) -> None:
            self.__dict__.pop(_LOADED, None)
            self.__dict__["_audit_snapshot"] = value

    def audit_values(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.attname)
            for f in self._meta.concrete_fields
            if f.name not in self.AUDIT_EXCLUDE and f.attname in self.__dict__
        }

    def _do_update(self, base_qs: Any, *args: Any, **kwargs: Any) -> Any:
        # The writer's condition on the UPDATE: the changed fields still hold the values it recorded as old.
        expected = self.__dict__.pop(EXPECTED, None)
        if expected:
            base_qs = base_qs.filter(**expected)
        return super()._do_update(base_qs, *args, **kwargs)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not permits.governed_write_permitted():
            raise UnauditedWriteError(
                f"{type(self).__name__} must be saved through a service (audit.writer.save), "
                "so that the change and its audit entry are one transaction"
            )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if not permits.governed_write_permitted():
            raise UnauditedWriteError(
                f"{type(self).__name__} must be deleted through a service (audit.writer.delete)"
            )
        return super().delete(*args, **kwargs)


def _refuse_unaudited_m2m(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    related = kwargs.get("model")
    governed = isinstance(instance, GovernedModel) or (
        isinstance(related, type) and issubclass(related, GovernedModel)
    )
    if action.startswith("pre_") and governed:
        if not permits.link_writes_permitted():
            raise UnauditedWriteError(
                f"many-to-many changes on {type(instance).__name__} go through its service, which records them"
            )
        meta = type(instance)._meta
        permits.note(f"{meta.app_label}.{meta.model_name}", instance.pk)


def refuse_link_row_save(self: Any, *args: Any, **kwargs: Any) -> None:
    """A row of a many-to-many link table saved on its own (`through.objects.create`) sends no m2m signal,
    so it would add a role or a developer with no entry; the related managers (user.groups.add), which
    record it, never save rows one by one. (Django sends no pre_save for these tables, hence the method.)"""
    raise UnauditedWriteError(f"{type(self).__name__} rows are written through the related manager "
                              "(e.g. user.groups.add), which records the change")


@dataclass(frozen=True)
class _LinkWrite:
    """A link-table write a related manager announced (m2m_changed pre_add/pre_remove/pre_clear): only
    that model's next write, inside that manager's own atomic block, which it leaves whatever happens."""

    model: type[models.Model]
    block: Any


_announced: ContextVar[_LinkWrite | None] = ContextVar("audit_link_write", default=None)


def _announce_link_write(sender: Any, action: str, using: str, **kwargs: Any) -> None:
    if action.startswith("pre_"):
        blocks = connections[using].atomic_blocks
        _announced.set(_LinkWrite(sender, blocks[-1]) if blocks else None)


class LinkQuerySet(NoBulkWritesQuerySet):
    """Rows of a many-to-many link table (role membership, permissions, a model's developers, lineage).

    Only the related managers write them: each announces its write with m2m_changed, whose receivers
    check who may and record it. Written directly (`through.objects.bulk_create`, `.filter().delete()`)
    they would add or remove a role with no entry, so that is refused. (`_raw_delete` stays: it is how
    Django cascades the deletion of a user, a role or a model, whose own entry records it.)"""

    bulk_hint = "use the related manager (e.g. user.groups.add), which records the change"

    def _take_announced(self) -> bool:
        write = _announced.get()
        blocks = connections[self.db].atomic_blocks
        if write is None or write.model is not self.model or not blocks or blocks[-1] is not write.block:
            return False
        _announced.set(None)
        return True

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if not self._take_announced():
            raise self._refused("create")
        return models.QuerySet.bulk_create(self, objs, *args, **kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        if not self._take_announced():
            raise self._refused("delete")
        return super().delete()


def guard_managers(model: Any, queryset_class: type[models.QuerySet]) -> None:
    """Every manager of `model` hands out `queryset_class`: its default manager, the related managers
    Django derives from that manager's class (group.user_set, user.groups), and its base manager, which
    is otherwise a plain Manager (`User._base_manager.update(is_staff=True)` wrote with no entry).

    For Django's own models (users, roles, permissions, link tables) this sets a private attribute,
    `_queryset_class`, on classes that are not ours: a bulk write sends no signal, so there is no other hook
    that can refuse one, and the models cannot be given a manager of ours without swapping them."""
    manager = model._default_manager
    if type(manager) is models.Manager:
        # The class is shared by many models; a link table has no related managers to derive from it.
        manager._queryset_class = queryset_class  # type: ignore[attr-defined]
    else:
        # Related managers are made from the class (UserManager, GroupManager: the model's own), not the
        # instance. Replacing the class instead would change the managers migrations record.
        type(manager)._queryset_class = queryset_class
    # By name, so that the base manager stays this one when Django rebuilds its caches.
    model._meta.base_manager_name = manager.name
    model._meta.__dict__.pop("base_manager", None)


def guard_link_table(through: Any) -> None:
    """Make a link table writable only by its related managers (see LinkQuerySet). Rebinds the auto-created
    class's save: Django sends no pre_save for these tables (refuse_link_row_save)."""
    through.save = refuse_link_row_save
    guard_managers(through, LinkQuerySet)


def refuse_raw_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """`loaddata` saves rows raw (Model.save_base), past save() and with no entry: refused."""
    if raw and not permits.governed_write_permitted():
        raise UnauditedWriteError(f"{sender.__name__} rows are not loaded from fixtures: that would change them "
                                  "with no audit entry; create them through the services")


def connect() -> None:
    from django.apps import apps
    from django.db.models.signals import m2m_changed, pre_save

    m2m_changed.connect(_refuse_unaudited_m2m, dispatch_uid="audit-governed-m2m")
    for model in apps.get_models():
        if issubclass(model, GovernedModel):
            objects: Any = model._default_manager
            guard_managers(model, objects._queryset_class)
            pre_save.connect(refuse_raw_save, sender=model, dispatch_uid=f"audit-raw-{model._meta.label}")
            for field in model._meta.local_many_to_many:
                through: Any = field.remote_field.through
                if through._meta.auto_created:
                    guard_link_table(through)
    # Last of the m2m receivers: a write is announced only once every check before it has passed.
    m2m_changed.connect(_announce_link_write, dispatch_uid="audit-link-write-announced")
