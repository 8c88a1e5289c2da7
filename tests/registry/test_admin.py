"""Registry admin: pages load, edits go through the services and are audited with the admin channel."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from registry.models import RegisteredModel
from tests.factories import make_dataset_version, make_model, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client, make_user):
    admin_user = make_user("gov", "governance admin", "model developer", is_staff=True)
    client.force_login(admin_user)
    model = make_model(admin_user, "pd")
    version = make_version(model, admin_user, training_datasets=[make_dataset_version(admin_user)])
    return admin_user, model, version


def test_every_registry_admin_page_loads(client, setup):
    _, model, version = setup
    dataset_version = version.training_datasets.get()
    for url in [
        "/admin/",
        "/admin/registry/registeredmodel/", f"/admin/registry/registeredmodel/{model.pk}/change/",
        "/admin/registry/registeredmodel/add/",
        "/admin/registry/modelversion/", f"/admin/registry/modelversion/{version.pk}/change/",
        "/admin/registry/dataset/", f"/admin/registry/dataset/{dataset_version.dataset_id}/change/",
        "/admin/registry/datasetversion/", f"/admin/registry/datasetversion/{dataset_version.pk}/change/",
        "/admin/audit/auditentry/",
        f"/admin/audit/auditentry/?object_type=registry.modelversion&object_id={version.pk}",
    ]:
        assert client.get(url).status_code == 200, url


def test_version_page_shows_lineage_and_digest_read_only(client, setup):
    _, _, version = setup
    page = client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()
    assert version.artifact_sha256 in page
    assert "Training data: german-credit@1" in page
    assert 'name="artifact_sha256"' not in page


def test_admin_edit_goes_through_service_with_admin_channel(client, setup):
    _, model, _ = setup
    resp = client.post(
        f"/admin/registry/registeredmodel/{model.pk}/change/",
        {"title": "Probability of default", "description": "", "owner": model.owner_id, "business_unit": "retail",
         "intended_use": "", "out_of_scope_uses": "", "risk_tier": "high", "eu_ai_act_category": "high",
         "tags": "[]"},
    )
    assert resp.status_code == 302, resp.content[:2000]
    model.refresh_from_db()
    assert model.title == "Probability of default"
    entry = AuditEntry.objects.filter(action="registry.registeredmodel.update").get().as_json()
    assert entry["context"]["channel"] == "admin"
    assert entry["changes"]["risk_tier"] == {"old": "medium", "new": "high"}


def test_admin_create_model(client, setup):
    admin_user, _, _ = setup
    resp = client.post(
        "/admin/registry/registeredmodel/add/",
        {"name": "new-model", "title": "New", "description": "", "owner": admin_user.pk, "business_unit": "",
         "intended_use": "", "out_of_scope_uses": "", "risk_tier": "low", "eu_ai_act_category": "minimal",
         "tags": "[]"},
    )
    assert resp.status_code == 302, resp.content[:3000]
    created = RegisteredModel.objects.get(name="new-model")
    assert AuditEntry.objects.filter(action="registry.registeredmodel.create", object_id=str(created.pk)).exists()
