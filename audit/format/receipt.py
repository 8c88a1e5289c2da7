"""A production batch's rows as an RFC 6962 tree: each row's line and leaf, the batch's root, a row's audit path.

The monitoring app hashes a batch with these when it ingests it and serves a row's receipt from them; the
standalone verifier (`audit.verifier.receipts`) checks the receipt with the same leaf and `verify_inclusion`.
A tree of a million rows is hashed level by level over one bytes object of concatenated 32-byte hashes: about a
million SHA-256 calls and no Python object per node kept, which the recursive reference (`audit.merkle.mth`)
cannot do in time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from audit.format.rfc6962 import empty_root

RECEIPT = "modelgov row receipt v1"  # the receipt document's "receipt" member
_sha256 = hashlib.sha256
_QUOTED = frozenset(',"\r\n')


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)  # decimal, even for an int subclass with its own str (an IntEnum)
    if isinstance(value, float):
        # Python's repr, even for a subclass's (numpy's float64): 1e-07, -0.0; NaN is a missing cell.
        return "" if value != value else float.__repr__(value)
    if isinstance(value, str):
        return str.__str__(value)
    raise TypeError(f"a batch cell is None, bool, int, float or str, not {type(value).__name__}")


def _quote(text: str) -> str:
    return text if _QUOTED.isdisjoint(text) else '"' + text.replace('"', '""') + '"'


# The exact types by lookup: a million rows of twenty cells is twenty million calls.
_RENDER: dict[type, Callable[[Any], str]] = {
    type(None): _cell, bool: _cell, int: int.__repr__, float: _cell,
}


def row_line(cells: Sequence[object]) -> bytes:
    """A row's line: its cells rendered (None "", bool true/false, int decimal, float repr, str as is) and joined
    as one CSV record the way `csv.writer` (QUOTE_MINIMAL, lineterminator "") writes it, UTF-8.

    Written here rather than by `csv.writer`, whose output changed in a patch release: before Python 3.11.9 and
    3.12.3 (CPython gh-67044) it left a field holding CR or LF unquoted when neither was its line terminator, so
    one row would give two lines, and two leaves, depending on the interpreter. This always quotes such a field,
    as `csv.writer` does from those versions on; for every other field the two agree byte for byte.
    """
    fields = []
    for value in cells:
        if type(value) is str:
            fields.append(value if _QUOTED.isdisjoint(value) else _quote(value))
        else:  # nothing an exact type of _RENDER writes needs quoting
            render = _RENDER.get(type(value))
            fields.append(render(value) if render is not None else _quote(_cell(value)))
    if fields == [""]:
        return b'""'  # csv.writer quotes a lone empty field, or the record would be an empty line
    return ",".join(fields).encode("utf-8")


def row_leaf(line: bytes) -> bytes:
    """RFC 6962 leaf hash of a row's line: SHA-256(0x00 || line)."""
    return _sha256(b"\x00" + line).digest()


def _leaves_of(leaves: bytes) -> bytes:
    if len(leaves) % 32:
        raise ValueError("leaves must be concatenated 32-byte hashes")
    return bytes(leaves)


def _parents(level: bytes) -> bytes:
    """The next level up: each pair of nodes hashed, an odd last node carried up as it is.

    Pairing level by level, the odd node carried, gives RFC 6962's MTH and PATH: its split at the largest power
    of two below n puts every complete aligned subtree where the pairing puts it, and the right edge folds the same.
    """
    end = len(level) - len(level) % 64
    one, sha = b"\x01", _sha256
    parents = b"".join([sha(one + level[i:i + 64]).digest() for i in range(0, end, 64)])
    return parents + level[end:]


def root_of(leaves: bytes) -> bytes:
    """RFC 6962 MTH of the leaves (concatenated 32-byte hashes, in row order); the empty tree's for none."""
    level = _leaves_of(leaves)
    if not level:
        return empty_root()
    while len(level) > 32:
        level = _parents(level)
    return level


def audit_path(index: int, leaves: bytes, size: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[size]): the audit path of leaf `index`, leaf to root, in a tree of `size` leaves
    given as concatenated 32-byte hashes (exactly `size` of them)."""
    level = _leaves_of(leaves)
    if len(level) != 32 * size:
        raise ValueError(f"{len(level) // 32} leaves given for a tree of {size}")
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    path, i, n = [], index, size
    while n > 1:
        sibling = i ^ 1
        if sibling < n:  # else this node is the odd last one, carried up with no sibling
            path.append(level[32 * sibling:32 * sibling + 32])
        level, i, n = _parents(level), i >> 1, (n + 1) >> 1
    return path


def receipt_document(*, index: int, line: bytes, columns: Sequence[str], batch_id: Any, sha256: str,
                     row_count: int, merkle_root: bytes, row_proof: Sequence[bytes],
                     entry_proof: dict[str, Any]) -> dict[str, Any]:
    """A row's receipt (docs/audit-log.md, "Row receipts"). `entry_proof` is the document the API serves for the
    batch's entry: `{"entry": ..., "inclusion": audit.proofs.inclusion(...)}`, at a checkpoint's size."""
    return {
        "receipt": RECEIPT,
        "row": {"index": index, "line": line.decode("utf-8"), "columns": list(columns)},
        "batch": {"id": batch_id, "sha256": sha256, "row_count": row_count, "merkle_root": merkle_root.hex()},
        "row_proof": [h.hex() for h in row_proof],
        "entry_proof": entry_proof,
    }
