"""Reading a data set for a report (reports.loading): which sensitive columns are bucketed as ages."""

from __future__ import annotations

from typing import Any

import pandas as pd


def test_only_a_column_named_for_age_is_bucketed_as_ages() -> None:
    from types import SimpleNamespace

    from reports.loading import sensitive_frame

    frame = pd.DataFrame({"usage": [1, 2, 3, 1] * 10, "applicant_age": list(range(20, 60)), "Age": [30, 18] * 20,
                          "stage": [0, 1] * 20})
    dataset: Any = SimpleNamespace(sensitive_columns=["usage", "applicant_age", "Age", "stage"])
    out = sensitive_frame(frame, dataset)
    assert list(out.columns) == ["usage", "applicant_age group", "Age group", "stage"]
    assert set(out["usage"]) == {"1", "2", "3"}
