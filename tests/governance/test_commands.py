"""The governance command obeys the same rules, with the cli channel on every entry."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from tests.governance.helpers import People, full_evidence, version_for

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("governance", *args, stdout=out)
    return out.getvalue()


def test_workflow_from_the_shell(make_user):
    people = People(make_user)
    version = version_for(people, tier="low")
    full_evidence(version)
    created = json.loads(run("request", str(version.pk), "staging", "--justification", "ready", "--as", "dev"))
    rid = str(created["id"])
    with pytest.raises(CommandError, match=r"sod\.requester_cannot_decide|role\.required"):
        run("approve", rid, "--role", "validator", "--as", "dev")
    with pytest.raises(CommandError, match="needs --as"):
        run("approve", rid, "--role", "validator")
    done = json.loads(run("approve", rid, "--role", "validator", "--comment", "ok", "--as", "val"))
    assert done["status"] == "approved"
    entry = AuditEntry.objects.get(action="governance.approval.approve").as_json()
    assert entry["context"]["channel"] == "cli" and entry["actor"]["name"] == "val"
    assert "expired 0" in run("expire")
    assert "opened 0" in run("revalidate")


def test_scheduled_tasks_run_as_system(make_user):
    from governance.tasks import expire_requests, open_revalidations

    assert expire_requests.delay().get() == 0
    assert open_revalidations.delay().get() == 0
