"""Declared metrics (the developer's claim, typed at registration) beside the metrics the product measured.

The one comparison every page and report shows: the API, the admin's review page, the performance and
lineage reports. A declared value never decides anything; a difference beyond the tolerance is flagged
for the people who do.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from reports.numbers import num
from reports.performance import METRICS


def tolerance() -> float:
    """The largest difference between a declared and a measured value left unflagged (a setting)."""
    return float(settings.METRIC_CLAIM_TOLERANCE)


def compare(declared: Any, measured: dict[str, Any], tol: float) -> list[dict[str, Any]]:
    """One row per metric the product measures or the developer declared: declared, measured, their difference
    (declared minus measured: above 0, the claim is higher than the measurement) and whether it is flagged.

    `measured` is a performance report's "metrics" ({name: {"value": ...}}), or {} when nothing counts as
    measured. Flagged means both are numbers and they differ by more than `tol`, judged on the difference
    as written (6 decimals), so what the reader sees is what was judged."""
    claims = declared if isinstance(declared, dict) else {}
    names = [m for m in METRICS if m in measured or m in claims] + sorted(str(k) for k in claims
                                                                          if k not in METRICS)
    rows = []
    for name in names:
        claim = claims.get(name)
        value = (measured.get(name) or {}).get("value") if isinstance(measured.get(name), dict) else None
        row: dict[str, Any] = {"metric": name, "declared": None, "measured": value, "difference": None,
                               "flagged": False}
        if name not in METRICS:
            row["note"] = "the product does not measure this metric"
        elif value is None and name in measured:
            row["note"] = str(measured[name].get("note") or "not measured")
        elif value is None:
            row["note"] = "not measured"
        # type(), not isinstance(): true and false are ints to Python, and no metric.
        if type(claim) in (int, float):
            row["declared"] = num(claim)
            if row["declared"] is not None and value is not None:
                row["difference"] = num(row["declared"] - value)
                row["flagged"] = abs(row["difference"] or 0.0) > tol
        elif claim is not None:
            row["note"] = "the declared value is not a number"
        rows.append(row)
    return rows


def flagged(rows: list[dict[str, Any]]) -> list[str]:
    return [r["metric"] for r in rows if r["flagged"]]
