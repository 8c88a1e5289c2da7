"""Registry services: registration, numbering, digests, formats, limits, lineage, audit entries."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import pytest
import skops.io
from django.db import transaction
from django.test import override_settings

from audit.models import AuditEntry, UnauditedWriteError
from config.errors import Conflict, InvalidInput, PermissionDenied
from registry.models import ModelVersion, RegisteredModel
from registry.selectors import dataset_lineage, version_lineage
from registry.services import model as model_services
from tests.factories import make_dataset_version, make_model, make_version, skops_bytes
from tests.governance.helpers import People

pytestmark = pytest.mark.django_db


@pytest.fixture
def dev(make_user):
    return make_user("dev", "model developer")


def test_create_model_records_entry_with_actor_and_fields(dev):
    model = make_model(dev, "pd-model", risk_tier="high", tags=["retail", "pd"])
    entry = AuditEntry.objects.filter(object_type="registry.registeredmodel", object_id=str(model.pk)).get()
    body = entry.as_json()
    assert body["action"] == "registry.registeredmodel.create"
    assert body["actor"] == {"kind": "user", "id": str(dev.pk), "name": "dev"}
    assert body["changes"]["risk_tier"] == {"old": None, "new": "high"}
    assert body["changes"]["tags"]["new"] == ["pd", "retail"]


def test_duplicate_model_name_is_a_conflict(dev):
    make_model(dev, "dup")
    with pytest.raises(Conflict):
        make_model(dev, "dup")


def test_versions_are_numbered_per_model(dev):
    a, b = make_model(dev, "a"), make_model(dev, "b")
    assert [make_version(a, dev).version for _ in range(3)] == [1, 2, 3]
    assert make_version(b, dev).version == 1


def test_digest_and_size_computed_while_streaming(dev):
    content = skops_bytes(3)
    version = make_version(make_model(dev), dev, content=content)
    assert version.artifact_sha256 == hashlib.sha256(content).hexdigest()
    assert version.artifact_size == len(content)
    with version.artifact.open("rb") as fh:
        assert fh.read() == content


def test_digest_mismatch_stores_nothing(dev):
    model = make_model(dev)
    before = AuditEntry.objects.count()
    with pytest.raises(InvalidInput, match="SHA-256 mismatch"):
        make_version(model, dev, expected_sha256="0" * 64)
    assert ModelVersion.objects.count() == 0
    assert AuditEntry.objects.count() == before


def test_wrong_format_is_refused(dev):
    model = make_model(dev)
    with pytest.raises(InvalidInput, match="not a skops file"):
        make_version(model, dev, content=b"hello world, not a zip")
    with pytest.raises(InvalidInput, match="not a valid ONNX model"):
        make_version(model, dev, content=skops_bytes(), artifact_format="onnx")


def test_pickle_refused_unless_trusted(dev):
    model = make_model(dev)
    payload = pickle.dumps({"weights": [1, 2, 3]})
    with pytest.raises(InvalidInput, match="loading a pickle runs code"):
        make_version(model, dev, content=payload, artifact_format="pickle")
    with override_settings(REGISTRY_TRUST_PICKLE=True):
        # Trusted, it is loaded (in the sandbox) and must still be a model.
        with pytest.raises(InvalidInput, match="not a model: the dict it holds has no predict method"):
            make_version(model, dev, content=payload, artifact_format="pickle")
        fitted = skops.io.loads(skops_bytes(), trusted=skops.io.get_untrusted_types(data=skops_bytes()))
        version = make_version(model, dev, content=pickle.dumps(fitted), artifact_format="pickle")
    assert version.version == 1 and version.artifact_check["estimator"] == "Pipeline"


@override_settings(REGISTRY_MAX_ARTIFACT_BYTES=100)
def test_size_limit(dev):
    with pytest.raises(InvalidInput, match="larger than the limit of 100 bytes"):
        make_version(make_model(dev), dev)
    assert ModelVersion.objects.count() == 0


def test_only_owner_and_assigned_developers_register_versions(make_user, dev):
    other = make_user("other", "model developer")
    helper = make_user("helper", "model developer")
    model = make_model(dev, developers=[helper])
    assert make_version(model, helper).version == 1
    with pytest.raises(PermissionDenied):
        make_version(model, other)


def test_lineage_both_ways(dev):
    train = make_dataset_version(dev, "train")
    evaluation = make_dataset_version(dev, "eval")
    model = make_model(dev)
    v1 = make_version(model, dev, training_datasets=[train], evaluation_datasets=[evaluation])
    v2 = make_version(model, dev, training_datasets=[train], parent=v1)
    up = version_lineage(v2)
    assert [d["dataset"] for d in up["training_datasets"]] == ["train"]
    assert [p["version"] for p in up["parents"]] == [1]
    assert [c["version"] for c in version_lineage(v1)["children"]] == [2]
    down = dataset_lineage(train)
    assert [v["version"] for v in down["trained_versions"]] == [1, 2]
    assert [v["version"] for v in dataset_lineage(evaluation)["evaluated_versions"]] == [1]
    entry = AuditEntry.objects.get(object_type="registry.modelversion", object_id=str(v1.pk))
    assert entry.as_json()["changes"]["training_datasets"] == {"old": None, "new": [train.pk]}


def test_dataset_version_reads_shape_and_refuses_bad_csv(dev):
    version = make_dataset_version(dev)
    assert version.row_count == 40
    assert [c["name"] for c in version.schema] == ["risk", "sex", "age", "amount"]
    with pytest.raises(InvalidInput, match="no column"):
        make_dataset_version(dev, "x", sensitive_columns=["race"])
    with pytest.raises(InvalidInput, match="not UTF-8"):
        make_dataset_version(dev, "y", content=b"risk,sex\n1,\xff\xfe\n")


def test_saving_or_bulk_changing_a_governed_model_outside_services_is_refused(dev):
    model = make_model(dev)
    model.title = "sneaky"
    with pytest.raises(UnauditedWriteError):
        model.save()
    with pytest.raises(UnauditedWriteError):
        RegisteredModel.objects.filter(pk=model.pk).update(title="sneaky")
    with pytest.raises(UnauditedWriteError):
        RegisteredModel.objects.filter(pk=model.pk).delete()
    with pytest.raises(UnauditedWriteError):
        RegisteredModel.objects.bulk_create([RegisteredModel(name="x", title="x", owner=dev)])
    with pytest.raises(UnauditedWriteError), transaction.atomic():
        model.developers.add(dev)
    assert RegisteredModel.objects.get(pk=model.pk).title != "sneaky"


def test_immutable_fields_cannot_be_edited(dev):
    from registry.services.version import model_version_update

    version = make_version(make_model(dev), dev)
    with pytest.raises(InvalidInput, match="register a new version"):
        model_version_update(version=version, by=dev, artifact_sha256="0" * 64)
    model_version_update(version=version, by=dev, description="better words")
    entry = AuditEntry.objects.filter(object_type="registry.modelversion").order_by("-seq")[0]
    assert entry.as_json()["changes"] == {"description": {"old": "", "new": "better words"}}


def test_file_upload_stream_from_real_file_object(dev, tmp_path):
    path = tmp_path / "m.skops"
    path.write_bytes(skops_bytes())
    with path.open("rb") as fh:
        from registry.services.version import model_version_create

        v = model_version_create(model=make_model(dev), by=dev, artifact=fh, artifact_format="skops")
    assert v.artifact_size == path.stat().st_size


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


@pytest.mark.django_db
def test_an_edit_failing_half_way_leaves_the_developers_as_they_were(
        api: Any, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model(people.dev, "pd")
    before = AuditEntry.objects.count()

    def fail(**kwargs: Any) -> None:
        raise RuntimeError("the field edit fails after the developers were set")

    monkeypatch.setattr(model_services, "registered_model_update", fail)
    with pytest.raises(RuntimeError):
        model_services.registered_model_edit(model=model, by=people.dev, developers=[people.dev2], title="T")
    assert model.developers.count() == 0
    assert AuditEntry.objects.count() == before
