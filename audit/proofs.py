"""Inclusion and consistency proofs served from the stored Merkle nodes, in O(log n) reads."""

from __future__ import annotations

from typing import Any

from audit import merkle, writer
from audit.checkpoints import fetch_nodes
from audit.format.rfc6962 import leaf_hash
from audit.models import AuditEntry, Checkpoint
from config.errors import InvalidInput, NotFound


def _size_or_head(size: int | None) -> int:
    head_seq, _, _ = writer.head()
    if size is None:
        return head_seq
    if size < 0 or size > head_seq:
        raise InvalidInput(f"size must be between 0 and the log's size {head_seq}")
    return size


def latest_checkpoint() -> dict[str, Any] | None:
    cp = Checkpoint.objects.order_by("-size").first()
    return cp.as_json() if cp else None


def inclusion(*, seq: int, size: int | None = None) -> dict[str, Any]:
    """Proof that entry `seq` is in the tree of `size` entries (default: the latest checkpoint's size)."""
    if size is None:
        cp = Checkpoint.objects.order_by("-size").first()
        size = cp.size if cp is not None and cp.size >= seq else None
    size = _size_or_head(size)
    if seq < 1 or seq > size:
        raise InvalidInput(f"seq must be between 1 and the tree size {size}")
    entry = AuditEntry.objects.filter(seq=seq).only("seq", "hash").first()
    if entry is None:
        raise NotFound(f"no entry with seq {seq}")
    index = seq - 1
    nodes = fetch_nodes(merkle.inclusion_keys(index, size) + merkle.root_keys(size))
    return {
        "seq": seq,
        "leaf_index": index,
        "tree_size": size,
        "entry_hash": entry.hash,
        "leaf_hash": leaf_hash(entry.hash).hex(),
        "proof": [h.hex() for h in merkle.inclusion_proof(index, size, nodes)],
        "root": merkle.root(size, nodes).hex(),
        "checkpoint": _checkpoint_at(size),
    }


def consistency(*, old_size: int, size: int | None = None) -> dict[str, Any]:
    """Proof that the tree of `size` entries extends the tree of `old_size` entries."""
    size = _size_or_head(size)
    if old_size < 1 or old_size > size:
        raise InvalidInput(f"old size must be between 1 and {size}")
    nodes = fetch_nodes(merkle.consistency_keys(old_size, size) + merkle.root_keys(old_size) + merkle.root_keys(size))
    return {
        "old_size": old_size,
        "tree_size": size,
        "old_root": merkle.root(old_size, nodes).hex(),
        "root": merkle.root(size, nodes).hex(),
        "proof": [h.hex() for h in merkle.consistency_proof(old_size, size, nodes)],
        "old_checkpoint": _checkpoint_at(old_size),
        "checkpoint": _checkpoint_at(size),
    }


def _checkpoint_at(size: int) -> dict[str, Any] | None:
    cp = Checkpoint.objects.filter(size=size).first()
    return cp.as_json() if cp else None
