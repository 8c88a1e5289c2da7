"""The peer of bench_monitoring.py: Evidently's data drift preset on the same CSV files, run by Evidently's own
interpreter: Evidently 0.7.23 needs pandas < 3, so it lives in a venv of its own, never in the project's.

    /work/evidently-venv/bin/python benchmarks/peer_evidently.py BASELINE.csv BATCH.csv SCHEMA.json

Prints one JSON line: its version, seconds to read and to run the report, its own peak RSS, and per column the
drift method, score and whether it called the column drifted. bench_monitoring.py times it from outside.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import evidently
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def _drift_values(snapshot: object) -> tuple[dict[str, dict[str, object]], object]:
    """Each column's drift method, score and threshold, and the preset's count of drifted columns, read from the
    snapshot's dict."""
    out: dict[str, dict[str, object]] = {}
    count = None
    for metric in snapshot.dict().get("metrics", []):  # type: ignore[attr-defined]
        config = metric.get("config") or {}
        name = str(metric.get("metric_name", ""))
        if name.startswith("DriftedColumnsCount"):
            count = (metric.get("value") or {}).get("count")
        elif name.startswith("ValueDrift") and config.get("column") is not None:
            out[str(config["column"])] = {"method": config.get("method"), "score": metric.get("value"),
                                          "threshold": config.get("threshold")}
    return out, count


def main() -> None:
    baseline_path, batch_path, schema_path = sys.argv[1:4]
    with open(schema_path) as f:
        schema = json.load(f)
    started = time.perf_counter()
    dtypes = {c: "float64" for c in schema["numeric"]} | {c: "object" for c in schema["categorical"]}
    reference = pd.read_csv(baseline_path, dtype=dtypes)
    current = pd.read_csv(batch_path, dtype=dtypes)
    read = time.perf_counter() - started
    definition = DataDefinition(id_column=schema["id"], numerical_columns=schema["numeric"],
                                categorical_columns=schema["categorical"])
    report = Report([DataDriftPreset()])
    snapshot = report.run(Dataset.from_pandas(current, data_definition=definition),
                          Dataset.from_pandas(reference, data_definition=definition))
    drift, drifted = _drift_values(snapshot)
    total = time.perf_counter() - started
    print(json.dumps({"version": evidently.__version__, "pandas": pd.__version__, "read_s": read,
                      "report_s": total - read, "total_s": total,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "drifted_count": drifted, "columns": drift}))


if __name__ == "__main__":
    main()
