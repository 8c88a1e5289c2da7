"""Signed checkpoints of the log (spec section 4): made on demand, every N entries or T minutes, mirrored outside."""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import merkle, mirror, signing, writer
from audit.format.checkpoint import signed_bytes
from audit.format.entry import format_ts
from audit.format.rfc6962 import empty_root, leaf_hash
from audit.models import AuditEntry, ChainHead, Checkpoint, MerkleNode, SigningKey
from config.files import write_once

_LOG_ID_FILE = "log-id"


def log_id() -> str:
    """The log's identity: from settings, else the host name plus a random id made once under var/."""
    if settings.AUDIT_LOG_ID:
        return str(settings.AUDIT_LOG_ID)
    path = Path(settings.AUDIT_SIGNING_KEY_FILE).parent / _LOG_ID_FILE
    write_once(path, f"{socket.gethostname()}/{uuid.uuid4().hex[:16]}".encode(), 0o644)
    return path.read_text().strip()


def fetch_nodes(keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The Merkle nodes for `keys`: stored ones in one query, the smaller ones from entry hashes in another."""
    stored = {MerkleNode.make_key(level, index): (level, index) for level, index in merkle.stored_keys(keys)}
    nodes = {}
    if stored:
        rows = MerkleNode.objects.filter(key__in=list(stored)).values_list("key", "hash")
        nodes = {stored[k]: bytes(h) for k, h in rows}
    ranges = merkle.leaf_ranges(keys)
    if ranges:
        # Leaf i is entry seq i + 1.
        where = Q()
        for start, end in ranges:
            where |= Q(seq__gt=start, seq__lte=end)
        leaves = {seq - 1: leaf_hash(h) for seq, h in AuditEntry.objects.filter(where).values_list("seq", "hash")}
        nodes.update(merkle.derived_nodes(keys, leaves))
    return nodes


def merkle_root(size: int) -> bytes:
    return merkle.root(size, fetch_nodes(merkle.root_keys(size)))


def checkpoint_create() -> Checkpoint:
    """Sign the log's current state; a checkpoint at the current size already made is returned as is."""
    with transaction.atomic():
        # Lock the head so no append moves the size between reading it and signing.
        head = ChainHead.objects.select_for_update().get(pk=1)
        existing = Checkpoint.objects.filter(size=head.seq).first()
        if existing is not None:
            return existing
        root = merkle_root(head.seq).hex() if head.seq else empty_root().hex()
        now = max(timezone.now(), head.ts) if head.ts else timezone.now()
        body: dict[str, Any] = {
            "v": 1,
            "log": log_id(),
            "size": head.seq,
            "root": root,
            "head": head.hash,
            "ts": format_ts(now),
        }
        kid = signing.current_key_id()
        body["key"] = kid
        _, body["sig"] = signing.sign(signed_bytes(body))
        _remember_key(kid, now)
        cp = Checkpoint(
            size=head.seq, root=root, head=head.hash, ts=now, key_id=kid, log_id=body["log"],
            document=document(body),
        )
        with writer.permit_append():
            cp.save()
        # The copies outside are made once the checkpoint is committed; a failed copy is logged and made
        # again later (audit.mirror), it never fails the checkpoint.
        transaction.on_commit(lambda: mirror.mirror([cp]))
        return cp


def _remember_key(kid: str, when: dt.datetime) -> None:
    if SigningKey.objects.filter(key_id=kid).exists():
        return
    with writer.permit_append():
        SigningKey(key_id=kid, public_pem=signing.public_key_pem(kid).decode(), first_used=when).save()


def document(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def checkpoint_due() -> bool:
    """Whether the schedule asks for a checkpoint: N entries or T minutes since the last one."""
    head_seq, _, _ = writer.head()
    last = Checkpoint.objects.order_by("-size").first()
    if last is None:
        return head_seq > 0
    if head_seq == last.size:
        return False
    if head_seq - last.size >= settings.AUDIT_CHECKPOINT_EVERY_ENTRIES:
        return True
    return timezone.now() - last.ts >= dt.timedelta(minutes=settings.AUDIT_CHECKPOINT_EVERY_MINUTES)
