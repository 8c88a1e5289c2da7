"""Every API operation, generated from the OpenAPI schema, against every role and anonymous.

Each operation has an entry saying which roles may pass authorization; an operation added without
an entry fails the first test. Each call runs in a savepoint that is rolled back, so every role meets
the same state. "Allowed" means authorization let it through (any status but 401/403); everyone else
must be refused with 401/403 (404 where the object is another user's).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator

from tests.governance.helpers import People, add_report, full_evidence, stage_for_setup, version_for

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "dev", "dev_other", "val", "risk", "comp", "aud", "gov")
AUTHENTICATED = set(ROLES) - {"anonymous"}
READ = AUTHENTICATED

EXPECTED: dict[str, set[str]] = {
    "GET /api/v1/models/": READ, "POST /api/v1/models/": {"dev", "dev_other", "gov"},
    "GET /api/v1/models/{name}/": READ, "PATCH /api/v1/models/{name}/": {"dev", "gov"},
    "DELETE /api/v1/models/{name}/": {"gov"},
    "GET /api/v1/models/{name}/versions/": READ, "POST /api/v1/models/{name}/versions/": {"dev"},
    "GET /api/v1/versions/": READ, "GET /api/v1/versions/{id}/": READ, "PATCH /api/v1/versions/{id}/": {"dev"},
    "GET /api/v1/versions/{id}/lineage/": READ, "GET /api/v1/versions/{id}/artifact/": READ,
    "GET /api/v1/versions/{id}/metrics/": READ,
    "GET /api/v1/datasets/": READ, "POST /api/v1/datasets/": {"dev", "dev_other", "gov"},
    "GET /api/v1/datasets/{name}/": READ, "GET /api/v1/datasets/{name}/versions/": READ,
    "POST /api/v1/datasets/{name}/versions/": {"dev", "dev_other", "gov"},
    "GET /api/v1/dataset-versions/": READ, "GET /api/v1/dataset-versions/{id}/": READ,
    "PATCH /api/v1/dataset-versions/{id}/": {"gov"}, "GET /api/v1/dataset-versions/{id}/lineage/": READ,
    "GET /api/v1/audit/entries/": READ, "GET /api/v1/audit/entries/{seq}/": READ,
    "GET /api/v1/audit/entries/{seq}/proof/": READ,
    "GET /api/v1/audit/entries/history/{object_type}/{object_id}/": READ,
    "GET /api/v1/audit/verifications/latest/": READ, "GET /api/v1/audit/checkpoints/": READ,
    "GET /api/v1/audit/checkpoints/latest/": READ, "GET /api/v1/audit/checkpoints/keys/": READ,
    "GET /api/v1/audit/checkpoints/inclusion/": READ, "GET /api/v1/audit/checkpoints/consistency/": READ,
    "GET /api/v1/audit/export/": READ,
    "GET /api/v1/promotion-requests/": READ, "POST /api/v1/promotion-requests/": {"dev"},
    "GET /api/v1/promotion-requests/{id}/": READ, "GET /api/v1/promotion-requests/awaiting-me/": READ,
    "POST /api/v1/promotion-requests/{id}/approve/": {"val", "risk", "comp"},
    "POST /api/v1/promotion-requests/{id}/reject/": {"val", "risk", "comp"},
    "POST /api/v1/promotion-requests/{id}/withdraw/": {"dev"},
    "GET /api/v1/policies/": READ, "POST /api/v1/policies/": {"gov"}, "GET /api/v1/policies/{id}/": READ,
    "PATCH /api/v1/policies/{id}/": {"gov"}, "POST /api/v1/policies/{id}/activate/": {"gov"},
    "GET /api/v1/tokens/": READ, "POST /api/v1/tokens/": READ, "POST /api/v1/tokens/{id}/revoke/": {"dev", "gov"},
    # Listed for governance admins; an owner sees and acts on their own ("dev" owns the world's account).
    "GET /api/v1/service-accounts/": READ, "POST /api/v1/service-accounts/": {"gov"},
    "GET /api/v1/service-accounts/{id}/": {"dev", "gov"},
    "POST /api/v1/service-accounts/{id}/disable/": {"dev", "gov"},
    # Only its owner makes its tokens: whoever holds one acts as the account, whose acts count as its owner's.
    "POST /api/v1/service-accounts/{id}/tokens/": {"dev"},
    "GET /api/v1/reports/": READ, "POST /api/v1/reports/": {"dev", "dev_other", "val"},
    "GET /api/v1/reports/{id}/": READ, "GET /api/v1/reports/{id}/pdf/": READ, "GET /api/v1/reports/{id}/json/": READ,
    "GET /api/v1/inventory/": READ, "GET /api/v1/inventory/{name}/": READ, "GET /api/v1/inventory.pdf": READ,
    # Monitoring: a model's developers send its batches and outcomes; everyone reads; validators review breaches.
    "GET /api/v1/versions/{id}/batches/": READ, "POST /api/v1/versions/{id}/batches/": {"dev"},
    "GET /api/v1/batches/{id}/": READ, "POST /api/v1/batches/{id}/outcomes/": {"dev"},
    "GET /api/v1/batches/{id}/rows/{index}/receipt/": READ, "GET /api/v1/versions/{id}/monitoring/": READ,
    "GET /api/v1/models/{name}/monitoring/": READ,
    "GET /api/v1/evaluations/{id}/": READ, "POST /api/v1/holds/{id}/release/": {"val"},
    "POST /api/v1/versions/{id}/monitoring-reports/": {"dev", "dev_other", "val"},
    "GET /api/v1/monitoring-reports/{id}/": READ, "GET /api/v1/monitoring-reports/{id}/pdf/": READ,
    "GET /api/v1/monitoring-reports/{id}/json/": READ,
}

ROLE_FOR = {"val": "validator", "risk": "risk_officer", "comp": "compliance_officer"}


def _operations() -> set[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {f"{method.upper()} {path}" for path, item in schema["paths"].items() for method in item}


def test_every_operation_has_an_expectation() -> None:
    assert _operations() == set(EXPECTED)


@pytest.fixture
def world(make_user: Any) -> dict[str, Any]:
    from governance.services import promotion_request_create
    from governance.tokens import token_create

    people = People(make_user)
    users = {"dev": people.dev, "dev_other": make_user("other", "model developer"), "val": people.val,
             "risk": people.risk, "comp": people.comp, "aud": people.aud, "gov": people.gov}
    from tests.factories import make_dataset_version

    dataset = make_dataset_version(people.dev, "german-credit")
    version = version_for(people, tier="low")
    full_evidence(version)
    report = add_report(version, "bias")
    request = promotion_request_create(version=version, target_stage="production", justification="x", by=people.dev)
    token, _ = token_create(user=people.dev, name="t")
    from governance.accounts import service_account_create

    service = service_account_create(by=people.gov, owner=people.dev, username="ci-pd", purpose="CI of pd",
                                     roles=["model_developer"])
    from governance.models import Policy
    from tests.monitoring.helpers import batch_csv, send

    # In staging, with a batch received: what the monitoring operations act on.
    stage_for_setup(version, "staging")
    batch = send(version, people.dev, batch_csv(50, seed=1))

    ids = {"name": "pd", "id": version.pk, "seq": 1, "object_type": "registry.modelversion",
           "object_id": version.pk}
    return {"users": users, "version": version, "report": report, "request": request, "token": token,
            "policy": Policy.objects.get(), "ids": ids, "dataset": dataset, "service": service, "batch": batch}


def _path(op: str, world: dict[str, Any]) -> str:
    path = op.split(" ", 1)[1]
    ids = dict(world["ids"])
    if "/promotion-requests/{id}" in path:
        ids["id"] = world["request"].pk
    elif "/policies/{id}" in path:
        ids["id"] = world["policy"].pk
    elif "/service-accounts/{id}" in path:
        ids["id"] = world["service"].pk
    elif "/tokens/{id}" in path:
        ids["id"] = world["token"].pk
    elif "/reports/{id}" in path:
        ids["id"] = world["report"].pk
    elif "/datasets/{name}" in path:
        ids["name"] = "german-credit"
    elif "/dataset-versions/{id}" in path:
        ids["id"] = world["dataset"].pk
    elif "/batches/{id}" in path:
        ids["id"] = world["batch"].pk
    ids["index"] = 0
    for key, value in ids.items():
        path = path.replace("{" + key + "}", str(value))
    if path.endswith("/inclusion/"):
        path += "?seq=1"
    if path.endswith("/consistency/"):
        path += "?old_size=1"
    return path


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(api: Any, world: dict[str, Any], role: str) -> None:
    from audit.checkpoints import checkpoint_create

    checkpoint_create()
    failures = []
    for op, allowed in sorted(EXPECTED.items()):
        method, _ = op.split(" ", 1)
        api.force_authenticate(world["users"].get(role))
        body: dict[str, Any] = {"role": ROLE_FOR.get(role, "validator"), "comment": "matrix"}
        if op == "POST /api/v1/promotion-requests/":
            body = {"version": world["version"].pk, "target_stage": "staging", "justification": "matrix"}
        elif op == "POST /api/v1/service-accounts/":
            body = {"username": "ci-new", "owner": "dev", "purpose": "matrix"}
        elif op.startswith("POST /api/v1/service-accounts/{id}/tokens/"):
            body = {"name": "matrix"}
        elif op == "POST /api/v1/reports/":
            body = {"version": world["version"].pk, "kind": "lineage"}
        with transaction.atomic():
            resp = getattr(api, method.lower())(_path(op, world), body if method != "GET" else None, format="json")
            transaction.set_rollback(True)
        refused = resp.status_code in (401, 403) or (resp.status_code == 404 and (
            op.endswith("revoke/") or "/service-accounts/{id}" in op))
        if resp.status_code >= 500:
            failures.append(f"{op} as {role}: {resp.status_code}")
        elif (role in allowed) == refused:
            failures.append(f"{op} as {role}: {resp.status_code} (allowed: {role in allowed})")
    assert not failures, "\n".join(failures)
