"""The OpenAPI document generates with no warning: every operation has its own id (a collision would make
generated clients call one endpoint by another's name) and every view describes its parameters."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_schema_generates_without_warnings(tmp_path: object) -> None:
    try:
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path) + "/schema.yaml")
    except Exception as exc:  # CommandError, or drf-spectacular's own SchemaGenerationError
        pytest.fail(f"the OpenAPI schema has warnings or errors: {exc}")
