"""The record of who was a model's owner and developers, kept in step with every change of them (same transaction).

Kept by signals on the model's row and its developers' links rather than by each service: whatever writes an owner
or a developer — a service, the admin, `writer.save` from a shell, `user.developed_models.add` — writes the record
in the same transaction, with its entries, so the record cannot fall behind the rows or the log.
"""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from typing import Any

from django.db import connection
from django.db.models.signals import m2m_changed, post_save
from django.utils import timezone

from audit import writer
from registry.models import ModelPersonnel, PersonnelRole, RegisteredModel
from registry.signals import model_personnel_joined


def lock_model(model_id: int) -> None:
    """Take the model's row lock. Every change of its people and every decision on its versions' promotions take it
    first, so a decision and a change of people are never judged against each other's old state."""
    list(RegisteredModel.objects.select_for_update().filter(pk=model_id).values_list("pk", flat=True))


def personnel_sync(*, model_id: int, at: dt.datetime | None = None) -> list[int]:
    """Make the open spells those of the model's current owner and developers: close the spells of those who left,
    open spells for those who joined, each with its entry, and tell the layers above who joined
    (model_personnel_joined), in this transaction. Returns who joined."""
    at = at or timezone.now()
    row = RegisteredModel.objects.filter(pk=model_id).values_list("owner_id", flat=True).first()
    if row is None:
        return []
    current = {(row, PersonnelRole.OWNER.value)} | {
        (user_id, PersonnelRole.DEVELOPER.value)
        for user_id in RegisteredModel.developers.through.objects.filter(registeredmodel_id=model_id)
        .values_list("user_id", flat=True)}
    joined: list[int] = []
    # Inside the change's own transaction (a signal of writer.save), no block of its own: a nested block would send
    # the entries at its savepoint instead of with the outermost COMMIT, one more round trip per change.
    with nullcontext() if connection.in_atomic_block else writer.atomic():
        open_spells = {(s.user_id, s.role): s for s in ModelPersonnel.objects.filter(model_id=model_id,
                                                                                   ended_at__isnull=True)}
        for key, spell in sorted(open_spells.items()):
            if key not in current:
                spell.ended_at = at
                writer.save(spell, action="registry.modelpersonnel.end")
        for user_id, role in sorted(current - set(open_spells)):
            writer.save(ModelPersonnel(model_id=model_id, user_id=user_id, role=role, started_at=at),
                        action="registry.modelpersonnel.start")
            joined.append(user_id)
        if joined:
            model = RegisteredModel.objects.get(pk=model_id)
            model_personnel_joined.send(sender=RegisteredModel, model=model, user_ids=sorted(set(joined)), at=at)
    return sorted(set(joined))


def personnel_delete(*, model: RegisteredModel) -> None:
    """The spells of a model being deleted (it has no versions, so no decision ever read them), with entries."""
    for spell in ModelPersonnel.objects.filter(model=model):
        writer.delete(spell, action="registry.modelpersonnel.delete")


def _owner_saved(sender: Any, instance: RegisteredModel, created: bool, raw: bool = False,
                 update_fields: Any = None, **kwargs: Any) -> None:
    if not raw and (update_fields is None or "owner" in update_fields):
        personnel_sync(model_id=instance.pk)


def _developers_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        personnel_sync(model_id=instance.pk)
        return
    # From the user's side (user.developed_models.add(model)): each model named, or every model of theirs (clear).
    ids = pk_set if pk_set is not None else ModelPersonnel.objects.filter(
        user_id=instance.pk, role=PersonnelRole.DEVELOPER, ended_at__isnull=True).values_list("model_id", flat=True)
    for model_id in sorted(set(ids)):
        personnel_sync(model_id=model_id)


def connect() -> None:
    post_save.connect(_owner_saved, sender=RegisteredModel, dispatch_uid="registry-personnel-owner")
    m2m_changed.connect(_developers_changed, sender=RegisteredModel.developers.through,
                        dispatch_uid="registry-personnel-developers")


__all__ = ["lock_model", "personnel_delete", "personnel_sync"]
