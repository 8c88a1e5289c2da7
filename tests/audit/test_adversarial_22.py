"""Adversarial review of issue 22: ways around the database's refusal of unrecorded writes and around the state
spans that the inventory reads. Each test is a way an insider tried; it passes when the way is shut."""

from __future__ import annotations

from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit import reconcile
from registry.models import ModelVersion
from tests.governance.helpers import People, version_for

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = "unrecorded write refused"


@pytest.fixture
def small(make_user: Any) -> SimpleNamespace:
    people = People(make_user)
    version = version_for(people)
    role = Group.objects.get(name="model developer")
    admin_role = Group.objects.get(name="governance admin")
    link = people.dev.groups.through.objects.get(user_id=people.dev.pk, group_id=role.pk)
    return SimpleNamespace(version=version.pk, dev=people.dev.pk, role=role.pk, admin_role=admin_role.pk,
                           link=link.pk)


def _execute(sql: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# A no-op UPDATE is let through unchecked (it changes nothing), but it writes a new row version whose xmin is the
# current transaction; the update guard then skipped any later UPDATE of that row in the transaction as "written
# by this transaction, so already checked" — which it was not.
NOOP_THEN_CHANGE = [
    ("registry_modelversion", "UPDATE registry_modelversion SET stage = stage WHERE id = {version}",
     "UPDATE registry_modelversion SET stage = 'production' WHERE id = {version}"),
    ("auth_user_groups", "UPDATE auth_user_groups SET group_id = group_id WHERE id = {link}",
     "UPDATE auth_user_groups SET group_id = {admin_role} WHERE id = {link}"),
    ("auth_user", "UPDATE auth_user SET is_superuser = is_superuser WHERE id = {dev}",
     "UPDATE auth_user SET is_superuser = TRUE WHERE id = {dev}"),
]


@pytest.mark.postgres
@pytest.mark.parametrize(("table", "noop", "change"), NOOP_THEN_CHANGE, ids=[t for t, _, _ in NOOP_THEN_CHANGE])
def test_a_noop_update_does_not_open_the_row_to_an_unchecked_one(small: SimpleNamespace, table: str, noop: str,
                                                                  change: str) -> None:
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        _execute(noop.format(**vars(small)))
        _execute(change.format(**vars(small)))
    assert ModelVersion.objects.get(pk=small.version).stage == "none"
    assert list(reconcile.reconcile()) == []


def _verify_fails() -> str:
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("audit", "verify", "--quiet", stdout=out, stderr=StringIO())
    return out.getvalue()
