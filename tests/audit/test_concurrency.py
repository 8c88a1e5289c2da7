"""Eight processes writing at once still make one linear chain: no gap, fork or repeated seq."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEntry
from tests.multiproc import run_processes

PROCESSES, CHANGES = 8, 200


def write_changes(index: int, owner_id: int, count: int) -> int:
    from django.contrib.auth import get_user_model

    from audit import writer
    from audit.context import audit_context, user_actor
    from registry.models import RegisteredModel

    owner = get_user_model().objects.get(pk=owner_id)
    with audit_context(actor=user_actor(owner), channel="task"):
        for i in range(count):
            writer.save(RegisteredModel(name=f"p{index}-{i}", title="t", owner=owner))
    return count


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_writer_processes_make_one_chain(make_user: Any) -> None:
    from audit.verification import verify_log

    owner = make_user("owner", "model developer")
    before = AuditEntry.objects.count()
    results = run_processes("tests.audit.test_concurrency:write_changes", PROCESSES, owner.pk, CHANGES)
    assert [status for _, status, _ in results] == ["ok"] * PROCESSES, results
    creates = AuditEntry.objects.filter(action="registry.registeredmodel.create").count()
    assert creates == PROCESSES * CHANGES
    # Each model's owner also opens a spell in the record of its people, with its entry, in the same transaction.
    spells = AuditEntry.objects.filter(action="registry.modelpersonnel.start").count()
    assert spells == PROCESSES * CHANGES
    assert AuditEntry.objects.count() == before + 2 * PROCESSES * CHANGES
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    run = verify_log()
    assert run.ok, (run.rule, run.message)
    assert run.entries_checked == len(seqs)
