"""The log's Merkle tree (RFC 6962 / RFC 9162, SHA-256): leaf and node hashes, the compact range, proof checks.

Leaf i is entry seq i + 1. The compact range is the one way a root is folded and a tree grown, by the writer
(which stores the subtrees it completes) and by the verifier (which keeps only the range, in constant memory).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_sha256 = hashlib.sha256


def leaf_hash(entry_hash_hex: str) -> bytes:
    """RFC 6962 leaf: SHA-256(0x00 || the entry's 32 hash bytes)."""
    return _sha256(b"\x00" + bytes.fromhex(entry_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    """MTH of the empty tree: SHA-256 of nothing."""
    return _sha256(b"").digest()


def fold(subtrees: Sequence[bytes]) -> bytes:
    """The hash of consecutive complete subtrees given largest first (a compact range, or the right-edge
    decomposition of any range): folded right to left, as RFC 6962 nests them."""
    if not subtrees:
        return empty_root()
    acc = subtrees[-1]
    for h in reversed(subtrees[:-1]):
        acc = node_hash(h, acc)
    return acc


class CompactRange:
    """The roots of the complete subtrees that make up a tree of `size` leaves, one per 1 bit of `size`,
    largest first: all that is needed to append a leaf or to compute the root."""

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: list[bytes] | None = None) -> None:
        self.size = size
        self.nodes = nodes if nodes is not None else []

    def append(self, leaf: bytes, finished: list[tuple[int, int, bytes]] | None = None) -> None:
        """Add the next leaf. Appending merges one subtree per trailing 1 bit of the size; with `finished`,
        each complete subtree so made is added to it as (level, index at that level, hash)."""
        node, n, level, stack = leaf, self.size, 0, self.nodes
        while n & 1:
            node = _sha256(b"\x01" + stack.pop() + node).digest()
            n >>= 1
            level += 1
            if finished is not None:
                finished.append((level, n, node))
        stack.append(node)
        self.size += 1

    def root(self) -> bytes:
        return fold(self.nodes)


def _all_hashes(values: list[bytes]) -> bool:
    return all(isinstance(v, bytes) and len(v) == 32 for v in values)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index < 0 or index >= size or not _all_hashes([leaf_hash, root, *proof]):
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if size1 < 0 or size2 < size1:
        return False
    if size1 == size2:
        # Nothing to prove but that the roots match; between empty trees there is nothing at all.
        return size1 > 0 and not proof and root1 == root2
    if size1 == 0 or not _all_hashes([root1, root2, *proof]):
        return False  # a proof from the empty tree proves nothing
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0
