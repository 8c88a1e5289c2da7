"""The standalone verifier on an export bundle of N entries: entries per second and peak memory.

The bundle's lines are written as `audit export` writes them (the canonical bytes with the hash
appended). The same 100,000 entries re-serialised with spaces (`json.dumps`, which the spec also
allows) are measured too: such lines are scanned a second time to refuse a repeated member.

    .venv/bin/python benchmarks/bench_verifier.py [--entries 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rfc8785

from audit.verifier import entry_line, verify_bundle
from benchmarks.common import peak_rss_mb


def make_bundle(path: Path, n: int, spaced: bool = False) -> None:
    path.mkdir(parents=True, exist_ok=True)
    prev = "0" * 64
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with (path / "entries.jsonl").open("w") as out:
        for seq in range(1, n + 1):
            # One entry a second, each in a second of its own as in a real log, so that every one's date is checked.
            ts = (start + dt.timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            e: dict = {"v": 1, "seq": seq, "ts": ts,
                 "actor": {"kind": "user", "id": "7", "name": "ana"}, "action": "registry.modelversion.update",
                 "object": {"type": "registry.modelversion", "id": str(seq % 1000), "repr": "m"},
                 "changes": {"description": {"old": None, "new": f"edit {seq}"}}, "context": {"channel": "api"},
                 "prev": prev}
            hashed = rfc8785.dumps(e)
            e["hash"] = prev = hashlib.sha256(hashed).hexdigest()
            out.write(json.dumps(e) + "\n" if spaced else entry_line(hashed, prev).decode() + "\n")
    (path / "checkpoints.jsonl").write_text("")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = min(100_000, args.entries)
        for n, spaced in sorted({(small, False), (args.entries, False)}) + [(small, True)]:
            bundle = Path(tmp) / f"b{n}{spaced}"
            make_bundle(bundle, n, spaced)
            t = time.perf_counter()
            result = verify_bundle(bundle)
            elapsed = time.perf_counter() - t
            assert result.ok and result.entries == n
            rss = peak_rss_mb()
            form = "re-serialised with spaces" if spaced else "as exported"
            print(f"{n:>9,} entries {form}: {n / elapsed:,.0f} entries/s, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
