"""`manage.py reports` (and `manage.py demo`) name what they cannot use, and write nothing."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEntry
from tests.governance.helpers import People, staff_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user: Any) -> People:
    return staff_world(make_user)


def test_commands_name_a_missing_dataset_and_an_unusable_export_root(world: Any, tmp_path: Any) -> None:
    from django.core.management import CommandError, call_command

    from reports.models import Report

    with pytest.raises(CommandError, match="no dataset version #999999"):
        call_command("reports", "generate", str(world.version.pk), "--dataset", "999999", "--as", "dev")
    assert not Report.objects.filter(version=world.version, status="queued").exists()
    in_the_way = tmp_path / "file"
    in_the_way.write_text("x")
    before = AuditEntry.objects.count()
    with pytest.raises(CommandError, match="cannot use"):
        call_command("demo", "--export-root", str(in_the_way))
    assert AuditEntry.objects.count() == before
