"""The German Credit models of the demo: v1 fails the fairness gate by age, v2 (mitigated) passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import FixedThresholdClassifier, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

DATA = Path(__file__).resolve().parents[1] / "data" / "german_credit.csv"
TARGET = "risk"
POSITIVE = "1"  # good credit risk: the favourable outcome the reports explain
SENSITIVE = ["sex", "age"]
SEED = 7
HYPERPARAMETERS = {"max_iter": 150, "learning_rate": 0.08, "max_leaf_nodes": 15, "random_state": SEED}


def load() -> pd.DataFrame:
    return pd.read_csv(DATA)


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train_test_split(frame, test_size=0.3, random_state=SEED, stratify=frame[TARGET])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _pipeline(frame: pd.DataFrame, features: list[str]) -> Pipeline:
    cats = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    nums = [c for c in features if c not in cats]
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cats),
                             ("num", "passthrough", nums)])
    return Pipeline([("pre", pre), ("model", HistGradientBoostingClassifier(**HYPERPARAMETERS))])


def train_scorer(train: pd.DataFrame) -> Pipeline:
    """Gradient boosting on every column, age and sex included, scoring P(good credit)."""
    features = [c for c in train.columns if c != TARGET]
    return _pipeline(train, features).fit(train[features], train[TARGET])


def with_cutoff(scorer: Pipeline, cutoff: float, train: pd.DataFrame) -> FixedThresholdClassifier:
    """Approve when P(good credit) >= cutoff; the scorer itself is frozen, not refitted."""
    features = list(scorer.feature_names_in_)
    return FixedThresholdClassifier(FrozenEstimator(scorer), threshold=cutoff,
                                    response_method="predict_proba").fit(train[features], train[TARGET])


V1_CUTOFF, V2_CUTOFF = 0.70, 0.50


def train_v1(train: pd.DataFrame) -> FixedThresholdClassifier:
    """The first version: a conservative approval cutoff of 0.70. Young applicants score lower,
    so far fewer of them clear it: the four-fifths rule on age fails."""
    return with_cutoff(train_scorer(train), V1_CUTOFF, train)


def train_v2(train: pd.DataFrame) -> FixedThresholdClassifier:
    """The mitigated version (post-processing): the same scorer with the cutoff re-chosen at 0.50,
    where the bias report's checks pass, at a small cost in approvals of bad risks."""
    return with_cutoff(train_scorer(train), V2_CUTOFF, train)


def features_of(model: Any) -> list[str]:
    inner = model.estimator.estimator if isinstance(model, FixedThresholdClassifier) else model
    return list(inner.feature_names_in_)


def auc(model: Any, test: pd.DataFrame) -> float:
    features = features_of(model)
    return float(roc_auc_score(test[TARGET], model.predict_proba(test[features])[:, 1]))
