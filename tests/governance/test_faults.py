"""The database connection dropped in the middle of a promotion: no partial change, no entry without its change."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError, connection

from audit.models import AuditEntry
from audit.verification import verify_log
from governance import services
from governance.models import PromotionRequest
from registry.models import ModelVersion
from tests.governance.helpers import People, full_evidence, version_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_connection_killed_mid_promotion_leaves_nothing_half_done(make_user: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    people = People(make_user)
    version = version_for(people)
    full_evidence(version)
    request = services.promotion_request_create(version=version, target_stage="production", justification="x",
                                                by=people.dev)
    services.approval_record(request=request, by=people.val, role="validator", decision="approve")
    services.approval_record(request=request, by=people.risk, role="risk_officer", decision="approve")
    entries_before = AuditEntry.objects.count()

    from registry.services import version as version_services

    original = version_services.model_version_set_stage

    def drop_connection_then_continue(**kwargs: Any) -> Any:
        # Another session kills ours, as a failover or a network cut would, after the approval row
        # and its entry are written but before the stage moves.
        pid = connection.connection.info.backend_pid
        s = connection.settings_dict
        with psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"],
                             dbname=s["NAME"], autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return original(**kwargs)

    monkeypatch.setattr("governance.decisions.model_version_set_stage", drop_connection_then_continue)
    with pytest.raises(OperationalError):
        services.approval_record(request=request, by=people.comp, role="compliance_officer", decision="approve")
    connection.close()
    monkeypatch.undo()
    assert ModelVersion.objects.get(pk=version.pk).stage == "none"
    assert PromotionRequest.objects.get(pk=request.pk).status == "pending"
    assert not request.approvals.filter(approver=people.comp).exists()
    assert AuditEntry.objects.count() == entries_before
    assert verify_log().ok
    done = services.approval_record(request=request, by=people.comp, role="compliance_officer", decision="approve")
    assert done.status == "approved"
