"""The standalone verifier against the public RFC 6962 conformance vectors: every happy path, every mutation."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from audit.verifier import verify_consistency, verify_inclusion

# A copy of the public vectors (see its README and LICENSE), kept in the repo so the tests run from a clone alone.
VECTORS = Path(__file__).resolve().parents[1] / "data" / "rfc6962"

INCLUSION = sorted(VECTORS.glob("inclusion/**/*.json"))
CONSISTENCY = sorted(VECTORS.glob("consistency/**/*.json"))


def _b(value: str) -> bytes:
    return base64.b64decode(value)


def _id(path: Path) -> str:
    return path.relative_to(VECTORS).as_posix()


def test_every_vector_file_is_a_case() -> None:
    assert len(INCLUSION) + len(CONSISTENCY) == len(list(VECTORS.rglob("*.json")))
    assert len(INCLUSION) > 50 and len(CONSISTENCY) > 50


@pytest.mark.parametrize("path", INCLUSION, ids=_id)
def test_inclusion_vector(path: Path) -> None:
    v = json.loads(path.read_text())
    ok = verify_inclusion(_b(v["leafHash"]), v["leafIdx"], v["treeSize"], [_b(p) for p in v["proof"] or []],
                          _b(v["root"]))
    assert ok is (not v["wantErr"]), v["desc"]


@pytest.mark.parametrize("path", CONSISTENCY, ids=_id)
def test_consistency_vector(path: Path) -> None:
    v = json.loads(path.read_text())
    ok = verify_consistency(v["size1"], v["size2"], [_b(p) for p in v["proof"] or []], _b(v["root1"]),
                            _b(v["root2"]))
    assert ok is (not v["wantErr"]), v["desc"]
