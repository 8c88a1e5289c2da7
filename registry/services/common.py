"""Helpers the registry services share: permission checks and descriptive-field edits."""

from __future__ import annotations

from typing import Any

from config.errors import InvalidInput, PermissionDenied
from config.ids import BIGINT as BIGINT_MAX
from config.json_input import check_json_value


def require_perm(user: Any, perm: str, *, doing: str) -> None:
    if user is None or not user.is_authenticated or not user.has_perm(perm):
        raise PermissionDenied(f"you do not have permission to {doing}", rule=perm)


def apply_edits(obj: Any, edits: dict[str, Any], *, editable: tuple[str, ...]) -> None:
    refused = sorted(set(edits) - set(editable))
    if refused:
        raise InvalidInput(
            f"{', '.join(refused)} cannot be changed on a registered {obj._meta.verbose_name}; "
            "register a new version instead"
            if set(refused) & set(getattr(obj, "IMMUTABLE_FIELDS", ()))
            else f"unknown or read-only field(s): {', '.join(refused)}"
        )
    for name, value in edits.items():
        setattr(obj, name, value)


def validate_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput("tags must be a list of strings")
    check_json_value(tags, name="tags")
    if len(tags) > 50 or any(len(t) > 64 or not t.strip() for t in tags):
        raise InvalidInput("at most 50 tags of 1 to 64 characters each")
    return sorted(set(t.strip() for t in tags))


def validate_json_size(value: Any, *, name: str, limit: int = 64 * 1024) -> Any:
    import json

    # Depth first: measuring the size of a value nested too deep would itself recurse too deep.
    check_json_value(value, name=name)
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be JSON without NaN or infinity") from exc
    if size > limit:
        raise InvalidInput(f"{name} is {size} bytes of JSON; the limit is {limit}")
    return value


def validate_count(value: Any, *, name: str) -> int | None:
    """A count a user declares: absent, or a whole number the 64-bit column can hold."""
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= BIGINT_MAX:
        raise InvalidInput(f"{name} must be a whole number from 0 to {BIGINT_MAX}")
    return value
