"""Monitoring in the admin: the version's and model's pages show the state over time; batches, evaluations and
breaches are read-only; a hold is released by a validator's review and by nobody else."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance.models import PromotionHold
from monitoring.models import Batch, Evaluation
from tests.monitoring.helpers import batch_csv, monitored, send
from tests.monitoring.test_services import _set_plan

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_pages_show_the_state_over_time_and_nothing_is_editable(make_user: Any) -> None:
    people, version = monitored(make_user)
    batch = send(version, people.dev, batch_csv(3000, seed=41))
    send(version, people.dev, batch_csv(1500, seed=42, shift=1.5, start=10_000))
    client = _client(people.gov)
    page = client.get(f"/admin/registry/modelversion/{version.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Monitoring over time" in html and "green" in html and "red" in html
    assert client.get(f"/admin/registry/registeredmodel/{version.model_id}/change/").status_code == 200
    evaluation = Evaluation.objects.get(batch=batch)
    for url in ("/admin/monitoring/batch/", f"/admin/monitoring/batch/{batch.pk}/change/",
                "/admin/monitoring/evaluation/", f"/admin/monitoring/evaluation/{evaluation.pk}/change/",
                "/admin/monitoring/breach/"):
        assert client.get(url).status_code == 200, url
    part = evaluation.parts.get()
    shown = client.get(f"/admin/monitoring/evaluation/{evaluation.pk}/change/").content.decode()
    assert part.state_sha256 in shown  # its parts, each with the digest of its counts
    before = Batch.objects.get(pk=batch.pk).merkle_root
    posted = client.post(f"/admin/monitoring/batch/{batch.pk}/change/", {"merkle_root": "0" * 64})
    assert posted.status_code == 403 and Batch.objects.get(pk=batch.pk).merkle_root == before
    assert client.post(f"/admin/monitoring/batch/{batch.pk}/delete/", {"post": "yes"}).status_code == 403


def test_a_hold_is_released_in_the_admin_by_a_validator_only(make_user: Any) -> None:
    people, version = monitored(make_user)
    _set_plan(people, on_red="hold")
    send(version, people.dev, batch_csv(1500, seed=43, shift=1.5))
    hold = PromotionHold.objects.get(released_at__isnull=True)
    url = f"/admin/governance/promotionhold/{hold.pk}/change/"
    dev = _client(people.dev)
    refused = dev.post(url, {"review": "looks fine to me"})
    assert refused.status_code == 200 and "reviews a monitoring breach" in refused.content.decode()
    assert "changed successfully" not in refused.content.decode()
    assert PromotionHold.objects.get(pk=hold.pk).released_at is None
    val = _client(people.val)
    assert val.get(url).status_code == 200
    val.post(url, {"review": "a new product line; re-validated on its data"})
    released = PromotionHold.objects.get(pk=hold.pk)
    assert released.released_by_id == people.val.pk and released.review.startswith("a new product")
