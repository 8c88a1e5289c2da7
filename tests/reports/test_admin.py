"""Reports in the admin: the version list's action that requests every kind of evidence for the chosen versions."""

from __future__ import annotations

from typing import Any

import pytest

from reports.models import ALL_KINDS, Report

pytestmark = pytest.mark.django_db


def test_the_version_list_requests_every_report_for_the_chosen_versions(client: Any, registered: dict[str, Any],
                                                                         make_user: Any) -> None:
    validator = make_user("val2", "model validator", is_staff=True)
    client.force_login(validator)
    page = client.get("/admin/registry/modelversion/")
    assert b"Generate bias, explainability, performance and lineage reports" in page.content
    version = registered["v2"]
    answer = client.post("/admin/registry/modelversion/",
                         {"action": "generate_reports", "_selected_action": [version.pk]}, follow=True)
    assert answer.status_code == 200
    assert b"Reports requested" in answer.content
    kinds = set(Report.objects.filter(version=version, requested_by=validator).values_list("kind", flat=True))
    assert kinds == set(ALL_KINDS)
