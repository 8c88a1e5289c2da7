"""Schemathesis against our own OpenAPI schema, as each role: no 5xx, responses conform to the schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# The properties the issue asks for: no 5xx, and responses that conform to the schema.
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

ROLES = ["model developer", "model validator", "risk officer", "compliance officer", "auditor", "governance admin"]


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Any:
    """Django's WSGI handler closes the database connection after each request; inside a test's
    transaction that would close it under the test (Django's own test client does the same)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(make_user: Any) -> dict[str, str]:
    from governance.tokens import token_create
    from tests.factories import make_dataset_version, make_model, make_version

    out = {}
    for i, role in enumerate(ROLES):
        user = make_user(f"fuzz{i}", role)
        out[role] = token_create(user=user, name="fuzz")[1]
    owner = make_user("owner", "model developer")
    make_version(make_model(owner, "pd"), owner, training_datasets=[make_dataset_version(owner, "german-credit")])
    return out


@pytest.mark.slow
@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: Any, tokens: dict[str, str]) -> None:
    for role in ROLES:
        case.call_and_validate(headers={"Authorization": f"Token {tokens[role]}"}, checks=CHECKS)
