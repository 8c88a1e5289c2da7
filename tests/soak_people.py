"""The people a soak run acts as, one per role that matters (shared by the soak script and its test)."""

from __future__ import annotations

from typing import Any


def make_people() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    roles = {"dev": "model developer", "val": "model validator", "val2": "model validator", "aud": "auditor"}
    people = {}
    for name, role in roles.items():
        user = get_user_model().objects.create_user(f"soak-{name}", f"{name}@soak.invalid", "x")
        user.groups.add(Group.objects.get(name=role))
        people[name] = user
    return people
