"""Builders for test objects, all made through the services so every one has its audit entry."""

from __future__ import annotations

import io
from typing import Any

from audit.context import audit_context, user_actor


def skops_bytes(seed: int = 0, features: tuple[str, ...] = ("sex", "age", "amount")) -> bytes:
    """A small real scikit-learn model serialised with skops, taking csv_bytes()'s columns (sex, age, amount), or
    those of them named in `features`."""
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"sex": rng.choice(["female", "male"], 40), "age": rng.integers(20, 70, 40),
                      "amount": rng.normal(1500, 300, 40)})
    y = (x["amount"] > 1500).astype(int)
    x = x[list(features)]
    encode = [("cat", OneHotEncoder(handle_unknown="ignore"), ["sex"])] if "sex" in features else []
    pre = ColumnTransformer(encode, remainder="passthrough")
    return sio.dumps(Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=500))]).fit(x, y))


def csv_bytes(rows: int = 40) -> bytes:
    lines = ["risk,sex,age,amount"] + [
        f"{i % 2},{'male' if i % 3 else 'female'},{20 + i % 50},{1000 + i}" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def make_model(owner: Any, name: str = "credit-risk", **fields: Any) -> Any:
    from registry.services.model import registered_model_create

    with audit_context(actor=user_actor(owner), channel="system"):
        return registered_model_create(by=owner, name=name, title=fields.pop("title", name.title()), **fields)


def make_dataset_version(owner: Any, name: str = "german-credit", **fields: Any) -> Any:
    from registry.models import Dataset
    from registry.services.dataset import dataset_create, dataset_version_create

    with audit_context(actor=user_actor(owner), channel="system"):
        dataset = Dataset.objects.filter(name=name).first() or dataset_create(by=owner, name=name)
        return dataset_version_create(
            dataset=dataset,
            by=owner,
            file=io.BytesIO(fields.pop("content", csv_bytes())),
            target_column=fields.pop("target_column", "risk"),
            sensitive_columns=fields.pop("sensitive_columns", ["sex"]),
            **fields,
        )


def make_version(model: Any, by: Any, **fields: Any) -> Any:
    from registry.services.version import model_version_create

    with audit_context(actor=user_actor(by), channel="system"):
        return model_version_create(
            model=model,
            by=by,
            artifact=io.BytesIO(fields.pop("content", skops_bytes(fields.pop("seed", 0)))),
            artifact_format=fields.pop("artifact_format", "skops"),
            **fields,
        )
