"""Merkle roots and proofs from stored subtrees equal RFC 6962's definitions and verify; any change fails."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.format.rfc6962 import leaf_hash
from audit.verifier import verify_consistency, verify_inclusion

MAX = 100


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(n)]


TREES = {n: (_leaves(n), merkle.MemoryNodes(_leaves(n))) for n in range(1, MAX + 1)}


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_every_tree_up_to_100(n: int) -> None:
    leaves, nodes = TREES[n]
    root = merkle.root(n, nodes)
    assert root == merkle.mth(leaves)
    for m in range(n):
        proof = merkle.inclusion_proof(m, n, nodes)
        assert proof == merkle.path(m, leaves)
        assert set(merkle.inclusion_keys(m, n)) <= set(nodes)
        assert verify_inclusion(leaves[m], m, n, proof, root)
    for m in range(1, n + 1):
        proof = merkle.consistency_proof(m, n, nodes)
        assert proof == (merkle.subproof(m, leaves) if m < n else [])
        assert verify_consistency(m, n, proof, merkle.mth(leaves[:m]), root)


def _flip(value: bytes, bit: int) -> bytes:
    data = bytearray(value)
    data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(2, MAX), st.data())
def test_inclusion_fails_on_any_change(n: int, data: st.DataObject) -> None:
    leaves, nodes = TREES[n]
    m = data.draw(st.integers(0, n - 1))
    proof, root = merkle.inclusion_proof(m, n, nodes), merkle.root(n, nodes)
    bit = data.draw(st.integers(0, 255))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        assert not verify_inclusion(leaves[m], m, n, [*proof[:i], _flip(proof[i], bit), *proof[i + 1:]], root)
    assert not verify_inclusion(leaves[m], m, n, proof, _flip(root, bit))
    assert not verify_inclusion(_flip(leaves[m], bit), m, n, proof, root)
    other = data.draw(st.integers(0, n - 1).filter(lambda x: x != m))
    assert not verify_inclusion(leaves[m], other, n, proof, root)
    wrong_size = data.draw(st.integers(1, 2 * MAX).filter(lambda s: _shape(m, s) != _shape(m, n)))
    assert not verify_inclusion(leaves[m], m, wrong_size, proof, root)


def _shape(index: int, size: int) -> tuple[bool, ...] | None:
    """Which side each proof node sits on. Sizes with the same shape give the very same proof for
    this leaf (the bytes cannot tell them apart), so only a size of another shape must fail."""
    if index >= size:
        return None
    return tuple(a < index for a, _ in merkle._inclusion_ranges(index, 0, size))


@settings(max_examples=300, deadline=None)
@given(st.integers(2, MAX), st.data())
def test_consistency_fails_on_any_change(n: int, data: st.DataObject) -> None:
    leaves, nodes = TREES[n]
    m = data.draw(st.integers(1, n - 1))
    proof = merkle.consistency_proof(m, n, nodes)
    old, new = merkle.mth(leaves[:m]), merkle.root(n, nodes)
    bit = data.draw(st.integers(0, 255))
    i = data.draw(st.integers(0, len(proof) - 1))
    assert not verify_consistency(m, n, [*proof[:i], _flip(proof[i], bit), *proof[i + 1:]], old, new)
    assert not verify_consistency(m, n, proof, _flip(old, bit), new)
    assert not verify_consistency(m, n, proof, old, _flip(new, bit))
    assert not verify_consistency(m, n, proof[:-1], old, new)
    assert not verify_consistency(m, n, [*proof, proof[0]], old, new)
    other = data.draw(st.integers(1, n - 1).filter(lambda x: x != m))
    assert not verify_consistency(other, n, proof, old, new)


def _consistency_expr(size1: int, size2: int, count: int) -> tuple[object, object] | None:
    """What verify_consistency computes from a proof of `count` nodes, with symbols for the nodes: two
    sizes giving the same expression accept the very same proof (the bytes cannot tell them apart)."""
    if size1 <= 0 or size2 <= size1 or not count:
        return None
    path: list[object] = [f"p{i}" for i in range(count)]
    if size1 & (size1 - 1) == 0:
        path.insert(0, "root1")
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr, sr = (c, fr), (c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = (sr, c)
        fn >>= 1
        sn >>= 1
    return (fr, sr) if sn == 0 else None


@pytest.mark.parametrize("n", range(2, MAX + 1))
def test_every_proof_of_every_tree_up_to_100_fails_on_any_change(n: int) -> None:
    """Exhaustive, beside the random search above: in every tree up to 100 leaves, for every leaf and every
    older size, a flipped bit in any node of the proof, a wrong index, old size or new size fails."""
    leaves, nodes = TREES[n]
    root = merkle.root(n, nodes)
    other_sizes = [s for s in {n - 1, n + 1, n + 2, 2 * n, n // 2} if s >= 1]
    for m in range(n):
        proof = merkle.inclusion_proof(m, n, nodes)
        for i in range(len(proof)):
            assert not verify_inclusion(leaves[m], m, n, [*proof[:i], _flip(proof[i], i * 37 + m), *proof[i + 1:]],
                                        root)
        for other in range(n):
            if other != m:
                assert not verify_inclusion(leaves[m], other, n, proof, root)
        for size in other_sizes:
            if _shape(m, size) != _shape(m, n):
                assert not verify_inclusion(leaves[m], m, size, proof, root)
    for m in range(1, n):
        proof = merkle.consistency_proof(m, n, nodes)
        old = merkle.mth(leaves[:m])
        for i in range(len(proof)):
            assert not verify_consistency(m, n, [*proof[:i], _flip(proof[i], i * 37 + m), *proof[i + 1:]], old, root)
        for other in range(1, n):
            if other != m:
                assert not verify_consistency(other, n, proof, old, root)
        for size in other_sizes:
            if size > m and _consistency_expr(m, size, len(proof)) != _consistency_expr(m, n, len(proof)):
                assert not verify_consistency(m, size, proof, old, root)
