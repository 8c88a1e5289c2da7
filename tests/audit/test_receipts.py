"""Row receipts: a batch's lines, leaves and tree against the RFC 6962 reference and vectors. Built here from the
spec alone: no database, no monitoring app."""

from __future__ import annotations

import base64
import csv
import enum
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.format.receipt import audit_path, root_of, row_leaf, row_line
from audit.format.rfc6962 import CompactRange, empty_root, verify_inclusion
from audit.merkle import mth, path
from tests.audit.test_rfc6962_vectors import INCLUSION

COLUMNS = ["age", "amount", "purpose", "approved", "score"]
ROWS: list[list[Any]] = [
    [35, 1200.5, "car", True, 0.81],
    [None, 0.1, 'say "yes", please', False, 1e-07],
    [61, -0.0, "ü, ✓", True, float("nan")],
    [19, 3.0, "line\nbreak", False, 0.5],
    [44, 25000.0, "", True, 0.25],
]


def _leaf(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


# The line and the leaf.

def test_a_row_line_renders_each_cell_by_the_rule() -> None:
    assert [row_line(r) for r in ROWS[:3]] == [
        b"35,1200.5,car,true,0.81",
        b',0.1,"say ""yes"", please",false,1e-07',
        '61,-0.0,"ü, ✓",true,nan'.encode(),
    ]
    assert row_line([""]) == b'""' and row_line([None]) == b'""' and row_line(["", ""]) == b"," and row_line([]) == b""

    class Grade(enum.IntEnum):
        A = 1

    class Text(str):
        def __str__(self) -> str:
            return "not the value"

    class Score(float):
        def __repr__(self) -> str:
            return "Score(0.5)"

    assert row_line([Grade.A, Text("x,y"), Score(0.5)]) == b'1,"x,y",0.5'
    assert row_leaf(b"35,1200.5") == hashlib.sha256(b"\x0035,1200.5").digest()
    with pytest.raises(TypeError):
        row_line([b"bytes"])


def _csv_writer(cells: list[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue().encode()


_cells = st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()), max_size=6)


@given(_cells)
def test_a_row_line_is_what_csv_writer_writes(cells: list[Any]) -> None:
    rendered = [None if c is None else ("true" if c else "false") if isinstance(c, bool) else repr(c)
                if isinstance(c, float) else c for c in cells]
    if any(isinstance(c, str) and ("\r" in c or "\n" in c) for c in rendered):
        return  # below, by hand: csv.writer before Python 3.11.9 leaves CR and LF unquoted
    assert row_line(cells) == _csv_writer(rendered)


def test_a_cell_holding_a_line_break_is_always_quoted() -> None:
    """As csv.writer from Python 3.11.9 / 3.12.3 on (gh-67044), whatever the interpreter: one row, one leaf."""
    assert row_line(["a\nb", "c\rd", "e\r\n"]) == b'"a\nb","c\rd","e\r\n"'
    assert next(csv.reader(io.StringIO(row_line(["a\nb", 1]).decode(), newline=""))) == ["a\nb", "1"]


# The tree: the reference (audit.merkle, RFC 6962 word for word), the compact range, the vectors.

@pytest.mark.parametrize("size", range(1, 71))
def test_root_and_every_path_match_the_reference(size: int) -> None:
    hashes = [_leaf(i) for i in range(size)]
    leaves = b"".join(hashes)
    assert root_of(leaves) == mth(hashes)
    for index in range(size):
        assert audit_path(index, leaves, size) == path(index, hashes)


@pytest.mark.parametrize("size", [1023, 1024, 1025, 100_003])
def test_large_trees_match_the_compact_range_and_the_reference(size: int) -> None:
    hashes = [_leaf(i) for i in range(size)]
    leaves = b"".join(hashes)
    grown = CompactRange()
    for h in hashes:
        grown.append(h)
    root = root_of(leaves)
    assert root == grown.root()
    for index in (0, 1, size // 2, size - 2, size - 1):
        proof = audit_path(index, leaves, size)
        assert verify_inclusion(hashes[index], index, size, proof, root)
        if size < 2000:
            assert proof == path(index, hashes)


def test_the_empty_tree_and_bad_arguments() -> None:
    assert root_of(b"") == empty_root() == mth([])
    for index, leaves, size in ((1, _leaf(0), 1), (-1, _leaf(0), 1), (0, _leaf(0), 2), (0, b"\x00" * 33, 1)):
        with pytest.raises(ValueError):
            audit_path(index, leaves, size)
    with pytest.raises(ValueError):
        root_of(b"\x00" * 31)


# The trees of the vectors: the eight leaves their README names, and the roots RFC 6962's tests publish.
VECTOR_DATA = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f")]
KNOWN_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_the_roots_of_the_rfc6962_test_trees() -> None:
    leaves = b"".join(row_leaf(d) for d in VECTOR_DATA)
    assert [root_of(leaves[:32 * n]).hex() for n in range(1, 9)] == KNOWN_ROOTS


@pytest.mark.parametrize("vector", [p for p in INCLUSION if p.name == "happy-path.json"], ids=lambda p: p.parent.name)
def test_the_paths_of_the_inclusion_vectors(vector: Path) -> None:
    v = json.loads(vector.read_text())
    index, size = v["leafIdx"], v["treeSize"]
    leaves = b"".join(row_leaf(d) for d in VECTOR_DATA[:size])
    assert row_leaf(VECTOR_DATA[index]) == base64.b64decode(v["leafHash"])
    assert root_of(leaves) == base64.b64decode(v["root"])
    assert audit_path(index, leaves, size) == [base64.b64decode(p) for p in v["proof"] or []]
