"""Every list page costs the same number of queries however many rows there are (no N+1)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_dataset_version, make_model, make_version

pytestmark = pytest.mark.django_db

API_LISTS = [
    "/api/v1/models/",
    "/api/v1/models/?tag=fraud",
    "/api/v1/models/?risk_tier=high&q=m",
    "/api/v1/models/m0/",
    "/api/v1/versions/",
    "/api/v1/versions/?model=m0",
    "/api/v1/versions/?risk_tier=high&created_after=2000-01-01T00:00:00Z",
    "/api/v1/versions/?stage=none",
    "/api/v1/models/m0/versions/",
    "/api/v1/datasets/",
    "/api/v1/datasets/train/versions/",
    "/api/v1/dataset-versions/",
    "/api/v1/audit/entries/",
    "/api/v1/audit/entries/?object_type=registry.modelversion",
    "/api/v1/audit/entries/?object_type=registry.registeredmodel&object_id={m0}",
    "/api/v1/audit/entries/?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z",
    "/api/v1/audit/entries/history/registry.registeredmodel/{m0}/",
    "/api/v1/audit/checkpoints/",
    "/api/v1/promotion-requests/",
    "/api/v1/promotion-requests/?status=pending",
    "/api/v1/promotion-requests/awaiting-me/",
    "/api/v1/promotion-requests/?awaiting=me",
    "/api/v1/tokens/",
    "/api/v1/reports/",
    "/api/v1/policies/",
]

ADMIN_LISTS = [
    "/admin/registry/registeredmodel/",
    "/admin/registry/modelversion/",
    "/admin/registry/dataset/",
    "/admin/registry/datasetversion/",
    "/admin/audit/auditentry/",
    "/admin/audit/auditentry/?object_type=registry.registeredmodel&object_id={m0}",
    "/admin/audit/auditentry/?channel=api&actor_kind=user",
    "/admin/audit/checkpoint/",
    "/admin/audit/verificationrun/",
    "/admin/governance/policy/",
    "/admin/governance/apitoken/",
    "/admin/governance/promotionrequest/?queue=all",
    "/admin/governance/promotionrequest/",
    "/admin/reports/report/",
]


def _grow(owner: Any, start: int, count: int) -> None:
    from governance.services import approval_record, promotion_request_create
    from tests.governance.helpers import add_report

    train = make_dataset_version(owner, "train")
    for i in range(start, start + count):
        model = make_model(owner, f"m{i}", developers=[owner])
        parent = make_version(model, owner, training_datasets=[train], evaluation_datasets=[train])
        child = make_version(model, owner, parent=parent, training_datasets=[train])
        make_dataset_version(owner, f"d{i}")
        add_report(child, "bias")
        request = promotion_request_create(version=child, target_stage="staging", justification="x", by=owner)
        approval_record(request=request, by=_validator(), role="validator", decision="reject", comment="no")
        promotion_request_create(version=parent, target_stage="production", justification="y", by=owner)


def _validator() -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, created = get_user_model().objects.get_or_create(username="qc-validator")
    if created:
        user.groups.add(Group.objects.get(name="model validator"))
    return user


def _queries(client: Any, url: str) -> int:
    from registry.models import RegisteredModel

    url = url.format(m0=RegisteredModel.objects.get(name="m0").pk)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries)


@pytest.fixture
def root(make_user):
    return make_user("root", "model developer", "model validator", superuser=True)


def test_api_list_query_counts_are_flat(api, root):
    api.force_authenticate(root)
    _grow(root, 0, 2)
    small = {url: _queries(api, url) for url in API_LISTS}
    _grow(root, 2, 6)
    large = {url: _queries(api, url) for url in API_LISTS}
    assert large == small


def test_admin_changelist_query_counts_are_flat(client, root):
    client.force_login(root)
    _grow(root, 0, 2)
    small = {url: _queries(client, url) for url in ADMIN_LISTS}
    _grow(root, 2, 6)
    large = {url: _queries(client, url) for url in ADMIN_LISTS}
    assert large == small
