"""German Credit registered through the services, with the demo's v1 (unfair) and v2 (mitigated)."""

from __future__ import annotations

import io
from typing import Any

import pytest
import skops.io as sio

from audit.context import audit_context, user_actor
from demo import credit


@pytest.fixture(scope="session")
def german() -> dict[str, Any]:
    frame = credit.load()
    train, test = credit.split(frame)
    return {"train": train, "test": test, "v1": credit.train_v1(train), "v2": credit.train_v2(train)}


@pytest.fixture
def registered(db: None, make_user: Any, german: dict[str, Any]) -> dict[str, Any]:
    from registry.services.dataset import dataset_create, dataset_version_create
    from registry.services.model import registered_model_create
    from registry.services.version import model_version_create

    dev = make_user("dev", "model developer")
    val = make_user("val", "model validator")
    with audit_context(actor=user_actor(dev), channel="system"):
        ds = dataset_create(by=dev, name="german-credit")
        train = dataset_version_create(dataset=ds, by=dev,
                                       file=io.BytesIO(german["train"].to_csv(index=False).encode()),
                                       target_column="risk", sensitive_columns=["sex", "age"], licence="DbCL 1.0")
        test = dataset_version_create(dataset=ds, by=dev, file=io.BytesIO(german["test"].to_csv(index=False).encode()),
                                      target_column="risk", sensitive_columns=["sex", "age"], parents=[train])
        model = registered_model_create(by=dev, name="credit-risk", title="Credit risk", risk_tier="high",
                                        intended_use="Rank consumer credit applications <b>by risk</b>")
        v1 = model_version_create(model=model, by=dev, artifact=io.BytesIO(sio.dumps(german["v1"])),
                                  artifact_format="skops", training_datasets=[train], evaluation_datasets=[test],
                                  metrics={"roc_auc": credit.auc(german["v1"], german["test"])})
        v2 = model_version_create(model=model, by=dev, artifact=io.BytesIO(sio.dumps(german["v2"])),
                                  artifact_format="skops", training_datasets=[train], evaluation_datasets=[test],
                                  parent=v1, metrics={"roc_auc": credit.auc(german["v2"], german["test"])})
    return {"dev": dev, "val": val, "v1": v1, "v2": v2, "test": test, "train": train}
