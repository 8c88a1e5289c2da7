"""Binary labels: which value of a target column is the positive class, decided once, at registration.

A label column is read as the text the file holds ("yes", "Y", "true", "good", "1"). The dataset
version records which of its values is positive; every reader maps labels through that record with
`positive_mask`, so registration and the reports can never disagree about what counts as 1.
"""

from __future__ import annotations

from collections.abc import Collection

from config.errors import InvalidInput
from registry.sandbox.labels import DEFAULT_POSITIVE, SHOWN, describe, matches, number, positive_mask

__all__ = ["DEFAULT_POSITIVE", "SHOWN", "describe", "matches", "number", "positive_mask", "resolve_positive"]


def resolve_positive(values: Collection[str], declared: str, *, column: str, more: bool = False) -> str:
    """The positive label to record for a target column holding `values` (its distinct non-empty texts;
    `more` if there were more than were collected), or InvalidInput naming the values found."""
    if len(values) > 2 or more:
        raise InvalidInput(
            f"the target column {column!r} must hold two values, one of them the positive label; it holds "
            f"{'more than ' + str(len(values)) if more else len(values)}: {describe(values, more=more)}"
        )
    if not declared:
        if all(number(v) in (0.0, 1.0) for v in values):
            return DEFAULT_POSITIVE
        raise InvalidInput(
            f"the target column {column!r} holds {describe(values)}, not 0 and 1: declare which value is the "
            "positive label (positive_label)"
        )
    if not any(matches(v, declared) for v in values):
        raise InvalidInput(
            f"the declared positive label {declared!r} is not a value of the target column {column!r}; "
            f"it holds {describe(values)}"
        )
    return declared
