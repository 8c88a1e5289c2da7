"""Version numbers stay 1..N with no gap or repeat when several processes register at once."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEntry
from registry.models import ModelVersion
from tests.multiproc import run_processes


def register_versions(index: int, model_id: int, user_id: int, count: int) -> list[int]:
    from django.contrib.auth import get_user_model

    from registry.models import RegisteredModel
    from tests.factories import make_version

    model = RegisteredModel.objects.get(pk=model_id)
    user = get_user_model().objects.get(pk=user_id)
    return [make_version(model, user, seed=index).version for _ in range(count)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registration_numbers_versions_without_gaps(make_user: Any) -> None:
    from tests.factories import make_model

    dev = make_user("dev", "model developer")
    model = make_model(dev, "pd")
    results = run_processes("tests.registry.test_concurrency:register_versions", 4, model.pk, dev.pk, 5)
    assert all(status == "ok" for _, status, _ in results), results
    numbers = sorted(n for _, _, got in results for n in got)
    assert numbers == list(range(1, 21))
    assert sorted(ModelVersion.objects.filter(model=model).values_list("version", flat=True)) == numbers
    assert AuditEntry.objects.filter(action="registry.modelversion.create").count() == 20
