"""Services for registered models."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from audit import writer
from config.errors import Conflict, InvalidInput
from registry.models import EUAIActCategory, RegisteredModel, RiskTier
from registry.services.common import apply_edits, require_perm, validate_tags
from registry.services.personnel import lock_model, personnel_delete

EDITABLE = (
    "title", "description", "business_unit", "intended_use", "out_of_scope_uses",
    "risk_tier", "eu_ai_act_category", "tags", "owner",
)


def _check_choices(fields: dict[str, Any]) -> None:
    if "risk_tier" in fields and fields["risk_tier"] not in RiskTier.values:
        raise InvalidInput(f"risk_tier must be one of {', '.join(RiskTier.values)}")
    if "eu_ai_act_category" in fields and fields["eu_ai_act_category"] not in EUAIActCategory.values:
        raise InvalidInput(f"eu_ai_act_category must be one of {', '.join(EUAIActCategory.values)}")
    if "tags" in fields:
        fields["tags"] = validate_tags(fields["tags"])


def registered_model_create(
    *,
    by: Any,
    name: str,
    title: str,
    owner: Any | None = None,
    developers: list[Any] | None = None,
    **fields: Any,
) -> RegisteredModel:
    require_perm(by, "registry.add_registeredmodel", doing="register a model")
    apply_edits(RegisteredModel(), fields, editable=EDITABLE)
    _check_choices(fields)
    if RegisteredModel.objects.filter(name=name).exists():
        raise Conflict(f"a model named {name!r} already exists")
    model = RegisteredModel(name=name, title=title, owner=owner or by, **fields)
    with writer.atomic():
        writer.save(model)  # opens the owner's spell (registry.services.personnel)
        if developers:
            registered_model_set_developers(model=model, developers=developers, by=by, check=False)
    return model


def registered_model_update(*, model: RegisteredModel, by: Any, **edits: Any) -> RegisteredModel:
    if model.owner_id != by.pk:
        require_perm(by, "registry.change_registeredmodel", doing=f"edit model {model.name}")
    _check_choices(edits)
    apply_edits(model, edits, editable=EDITABLE)
    with writer.atomic():
        if "owner" in edits:
            lock_model(model.pk)  # before the record of its people changes (registry.services.personnel)
        writer.save(model)
    return model


def registered_model_edit(
    *, model: RegisteredModel, by: Any, developers: list[Any] | None = None, **edits: Any
) -> RegisteredModel:
    """Edit a model's fields and, with `developers`, its developers: all of it or nothing, allowed or refused
    as the model stood before the edit (an owner handing the model on may set its developers with it)."""
    if model.owner_id != by.pk:
        require_perm(by, "registry.change_registeredmodel", doing=f"edit model {model.name}")
    with writer.atomic():
        if developers is not None:
            registered_model_set_developers(model=model, developers=developers, by=by, check=False)
        if edits:
            registered_model_update(model=model, by=by, **edits)
    return model


def registered_model_set_developers(
    *, model: RegisteredModel, developers: list[Any], by: Any, check: bool = True
) -> RegisteredModel:
    if check and model.owner_id != by.pk:
        require_perm(by, "registry.change_registeredmodel", doing=f"assign developers to {model.name}")
    user_model = get_user_model()
    new_ids = sorted({d.pk if isinstance(d, user_model) else int(d) for d in developers})
    if user_model.objects.filter(pk__in=new_ids).count() != len(new_ids):
        raise InvalidInput("one or more developers do not exist")
    with writer.atomic():
        lock_model(model.pk)
        old_ids = sorted(model.developers.values_list("pk", flat=True))
        if old_ids == new_ids:
            return model
        with writer.permit_governed_writes():
            model.developers.set(new_ids)
        writer.record(
            action="registry.registeredmodel.developers_set",
            obj=model,
            changes={"developers": {"old": old_ids, "new": new_ids}},
        )
    return model


def registered_model_delete(*, model: RegisteredModel, by: Any) -> None:
    require_perm(by, "registry.delete_registeredmodel", doing=f"delete model {model.name}")
    if model.versions.exists():
        raise Conflict(f"model {model.name} has registered versions and cannot be deleted; archive them instead")
    with writer.atomic(), writer.permit_governed_writes():
        developers = sorted(model.developers.values_list("pk", flat=True))
        model.developers.clear()
        personnel_delete(model=model)
        writer.delete(model, extra_changes={"developers": {"old": developers, "new": None}} if developers else None)
