"""The standalone verifier on an export bundle of N entries: entries per second and peak memory.

    .venv/bin/python benchmarks/bench_verifier.py [--entries 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rfc8785

from audit.verifier import verify_bundle
from benchmarks.common import peak_rss_mb


def make_bundle(path: Path, n: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    prev = "0" * 64
    with (path / "entries.jsonl").open("w") as out:
        for seq in range(1, n + 1):
            e: dict = {"v": 1, "seq": seq, "ts": "2026-01-01T00:00:00.000000Z",
                 "actor": {"kind": "user", "id": "7", "name": "ana"}, "action": "registry.modelversion.update",
                 "object": {"type": "registry.modelversion", "id": str(seq % 1000), "repr": "m"},
                 "changes": {"description": {"old": None, "new": f"edit {seq}"}}, "context": {"channel": "api"},
                 "prev": prev}
            e["hash"] = prev = hashlib.sha256(rfc8785.dumps(e)).hexdigest()
            out.write(json.dumps(e) + "\n")
    (path / "checkpoints.jsonl").write_text("")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted({min(100_000, args.entries), args.entries}):
            bundle = Path(tmp) / f"b{n}"
            make_bundle(bundle, n)
            t = time.perf_counter()
            result = verify_bundle(bundle)
            elapsed = time.perf_counter() - t
            assert result.ok and result.entries == n
            rss = peak_rss_mb()
            print(f"{n:>9,} entries: {n / elapsed:,.0f} entries/s, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
