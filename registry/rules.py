"""Who may change what in the registry: the owner and the model's assigned developers."""

from __future__ import annotations

from typing import Any

from config.errors import PermissionDenied
from registry.models import RegisteredModel


def is_model_developer(user: Any, model: RegisteredModel) -> bool:
    if not user or not user.is_authenticated:
        return False
    return model.owner_id == user.pk or model.developers.filter(pk=user.pk).exists()


def require_model_developer(user: Any, model: RegisteredModel, *, doing: str) -> None:
    if not is_model_developer(user, model):
        raise PermissionDenied(
            f"only the owner of model {model.name} or a developer assigned to it may {doing}",
            rule="registry.model_developer",
        )
