"""RFC 6962 roots and proofs for the writer side, computed from stored complete aligned subtrees.

A node (level L, index i) is the hash of leaves [i * 2**L, (i + 1) * 2**L). Any subtree the
RFC's recursion visits is either such a node or a right-edge range, which splits into at most
log2(n) of them, so a root or proof needs O(log^2 n) nodes at worst.

Only nodes at STORED_LEVEL and above are stored: that is one row per 2**STORED_LEVEL entries
instead of two per entry. A node below is recomputed from at most 2**STORED_LEVEL entry hashes,
which lie in one range of the log; a root or proof needs a few such ranges, so still one query for
the stored nodes and one for the entries.

The hashes and the fold are the format core's (`audit.format.rfc6962`), which the verifier checks proofs with.
"""

from __future__ import annotations

from collections.abc import Mapping

from audit.format.rfc6962 import empty_root, fold, node_hash

Key = tuple[int, int]
Nodes = Mapping[Key, bytes]

STORED_LEVEL = 4

__all__ = [
    "STORED_LEVEL",
    "MemoryNodes",
    "consistency_keys",
    "consistency_proof",
    "derived_nodes",
    "inclusion_keys",
    "inclusion_proof",
    "leaf_ranges",
    "mth",
    "path",
    "root",
    "root_keys",
    "stored_keys",
    "subproof",
]


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_keys(start: int, end: int) -> list[Key]:
    """Complete aligned subtrees covering leaves [start, end), left to right (start is aligned)."""
    keys: list[Key] = []
    while start < end:
        size = 1 << ((end - start).bit_length() - 1)
        while start % size:
            size >>= 1
        keys.append((size.bit_length() - 1, start // size))
        start += size
    return keys


def _range_hash(start: int, end: int, nodes: Nodes) -> bytes:
    """MTH of leaves [start, end): fold the decomposition right to left, as RFC 6962 nests it."""
    return fold([nodes[key] for key in _range_keys(start, end)])


def _inclusion_ranges(index: int, start: int, end: int) -> list[tuple[int, int]]:
    """The sibling ranges of RFC 6962 PATH(m, D[start:end]), leaf to root."""
    ranges: list[tuple[int, int]] = []
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start = start + k
    return list(reversed(ranges))


def _consistency_ranges(m: int, start: int, end: int, whole: bool) -> list[tuple[int, int]]:
    """The ranges of RFC 6962 SUBPROOF(m, D[start:end], b), in proof order."""
    n = end - start
    if m == n:
        return [] if whole else [(start, end)]
    k = _split(n)
    if m <= k:
        return _consistency_ranges(m, start, start + k, whole) + [(start + k, end)]
    return _consistency_ranges(m - k, start + k, end, False) + [(start, start + k)]


def root_keys(size: int) -> list[Key]:
    return _range_keys(0, size) if size else []


def root(size: int, nodes: Nodes) -> bytes:
    return _range_hash(0, size, nodes) if size else empty_root()


def inclusion_keys(index: int, size: int) -> list[Key]:
    _check_index(index, size)
    return [k for a, b in _inclusion_ranges(index, 0, size) for k in _range_keys(a, b)]


def inclusion_proof(index: int, size: int, nodes: Nodes) -> list[bytes]:
    _check_index(index, size)
    return [_range_hash(a, b, nodes) for a, b in _inclusion_ranges(index, 0, size)]


def consistency_keys(size1: int, size2: int) -> list[Key]:
    _check_sizes(size1, size2)
    if size1 in (0, size2):
        return []
    return [k for a, b in _consistency_ranges(size1, 0, size2, True) for k in _range_keys(a, b)]


def consistency_proof(size1: int, size2: int, nodes: Nodes) -> list[bytes]:
    _check_sizes(size1, size2)
    if size1 in (0, size2):
        return []
    return [_range_hash(a, b, nodes) for a, b in _consistency_ranges(size1, 0, size2, True)]


def stored_keys(keys: list[Key]) -> list[Key]:
    """The keys that are read from the stored nodes."""
    return [key for key in keys if key[0] >= STORED_LEVEL]


def leaf_ranges(keys: list[Key]) -> list[tuple[int, int]]:
    """The leaf ranges [start, end) whose hashes the keys below STORED_LEVEL are computed from, merged."""
    spans = sorted({(index << level, (index + 1) << level) for level, index in keys if level < STORED_LEVEL})
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def derived_nodes(keys: list[Key], leaves: Mapping[int, bytes]) -> dict[Key, bytes]:
    """The keys below STORED_LEVEL, computed from leaf hashes by leaf index."""
    return {
        (level, index): mth([leaves[i] for i in range(index << level, (index + 1) << level)])
        for level, index in keys
        if level < STORED_LEVEL
    }


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")


def _check_sizes(size1: int, size2: int) -> None:
    if not 0 <= size1 <= size2:
        raise ValueError(f"need 0 <= old size <= new size, got {size1} and {size2}")


class MemoryNodes(dict[Key, bytes]):
    """Every complete aligned subtree of a list of leaf hashes."""

    def __init__(self, leaves: list[bytes]) -> None:
        super().__init__()
        level, row = 0, list(leaves)
        while row:
            for i, h in enumerate(row):
                self[(level, i)] = h
            row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
            level += 1


# The RFC 6962 definitions, word for word, over a list of leaf hashes: the reference for tests.
def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return empty_root()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool = True) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = _split(n)
    if m <= k:
        return subproof(m, leaves[:k], whole) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]
