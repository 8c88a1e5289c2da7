"""The append-only audit log: entries with their canonical bytes, the chain head, Merkle nodes, checkpoints."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from audit import permits
from audit.format.entry import entry_line


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove what the log has recorded."""


class UnauditedWriteError(Exception):
    """Raised when a governed object is written other than through the audit writer."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("the audit log is append-only: entries cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the audit log is append-only: entries cannot be deleted")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise AppendOnlyError("the audit log is append-only: entries cannot be updated")

    def _raw_delete(self, using: Any) -> int:
        raise AppendOnlyError("the audit log is append-only: entries cannot be deleted")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} is append-only: a saved row never changes")
        if not permits.append_permitted():
            raise AppendOnlyError(f"{type(self).__name__} rows are written only by the audit writer")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{type(self).__name__} is append-only: rows cannot be deleted")


def entry_json(canonical: bytes | memoryview, hash_hex: str) -> dict[str, Any]:
    """An entry as the API and export show it: its stored canonical JSON with its hash added."""
    data: dict[str, Any] = json.loads(bytes(canonical))
    data["hash"] = hash_hex
    return data


# The plain columns an entry is stored with beside its canonical bytes, for filtering and search.
ENTRY_COLUMNS = ("actor_kind", "actor_id", "actor_name", "action", "object_type", "object_id", "object_repr",
                 "channel", "request_id")


def entry_columns(entry: dict[str, Any]) -> tuple[Any, ...]:
    """ENTRY_COLUMNS' values for an entry, from its JSON: what the writer stores, and what `audit verify`
    expects to find stored (a column changed behind the log's back would mislead every filter)."""
    actor, obj, context = entry["actor"], entry["object"], entry["context"]
    return (actor["kind"], actor["id"], actor["name"][:200], entry["action"], obj["type"], obj["id"][:64],
            obj["repr"], str(context.get("channel", "system"))[:8], str(context.get("request_id", ""))[:64])


class AuditEntry(AppendOnlyModel):
    seq = models.BigIntegerField(primary_key=True)
    ts = models.DateTimeField()
    actor_kind = models.CharField(max_length=8)
    actor_id = models.CharField(max_length=64, null=True, blank=True)
    actor_name = models.CharField(max_length=200)
    action = models.CharField(max_length=120)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.TextField()
    channel = models.CharField(max_length=8)
    request_id = models.CharField(max_length=64, blank=True, default="")
    # The exact bytes that were hashed: JCS of the entry without "hash". Never re-serialised
    # from the columns above, which exist only to filter on.
    canonical = models.BinaryField()
    prev = models.CharField(max_length=64)
    # Not unique: seq is, and the hash commits to seq. An index here would be two random-page
    # writes per append (unique plus LIKE) that no query reads.
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["object_type", "object_id", "seq"], name="audit_object_seq"),
            models.Index(fields=["ts", "seq"], name="audit_ts_seq"),
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
            models.Index(fields=["actor_name", "seq"], name="audit_actor_seq"),
            # Entries made outside a request have no request id and nothing looks them up by it.
            models.Index(fields=["request_id"], name="audit_request_set", condition=~models.Q(request_id="")),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_repr}"

    def as_json(self) -> dict[str, Any]:
        return entry_json(self.canonical, self.hash)

    def line(self) -> bytes:
        """The entry as one JSON line: the stored canonical bytes with the hash appended."""
        return entry_line(bytes(self.canonical), self.hash)


class ChainHead(models.Model):
    """One row, locked by every append, so concurrent writers extend one linear chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)
    ts = models.DateTimeField(null=True, blank=True)
    # The RFC 6962 compact range at `seq`: the roots of the complete subtrees that make up the
    # tree, largest first, 32 bytes each. Appending needs only these, never a read of the nodes.
    frontier = models.BinaryField(default=b"")

    class Meta:
        verbose_name = "chain head"


class MerkleNode(AppendOnlyModel):
    """A complete, aligned subtree of the RFC 6962 tree: key = level << 56 | index.

    Stored from level `merkle.STORED_LEVEL` up; smaller subtrees are recomputed from entry hashes.
    """

    key = models.BigIntegerField(primary_key=True)
    hash = models.BinaryField()

    class Meta:
        verbose_name = "Merkle node"

    @staticmethod
    def make_key(level: int, index: int) -> int:
        return (level << 56) | index


class Checkpoint(AppendOnlyModel):
    """A signed statement of the log's size, Merkle root and head (spec section 4)."""

    size = models.BigIntegerField(primary_key=True)
    root = models.CharField(max_length=64)
    head = models.CharField(max_length=64)
    ts = models.DateTimeField()
    key_id = models.CharField(max_length=16)
    log_id = models.CharField(max_length=200)
    # The exact checkpoint JSON (with "sig") as signed and exported.
    document = models.TextField()

    class Meta:
        ordering = ["-size"]

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.document)
        return data


class SigningKey(AppendOnlyModel):
    """A public key that has signed checkpoints; kept after rotation so old checkpoints still verify."""

    key_id = models.CharField(max_length=16, primary_key=True)
    public_pem = models.TextField()
    first_used = models.DateTimeField()

    def __str__(self) -> str:
        return self.key_id


class VerificationRun(models.Model):
    """The outcome of one verification of the whole chain (itself recorded in the log)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    entries_checked = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    checkpoints_checked = models.IntegerField(default=0)
    failed_seq = models.BigIntegerField(null=True, blank=True)
    rule = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]


class StateSpan(models.Model):
    """One governed object's fields over a span of the log: as entry `since` left them, until entry `until`
    changed them again (null: still so). Derived from the entries by audit.history, never written otherwise,
    and checked against them by `audit verify`: what "as of" reads instead of replaying the whole log."""

    id = models.BigAutoField(primary_key=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    # The object's id as a number where it is one (the order pages are cut in), else null.
    number = models.BigIntegerField(null=True)
    # The registered model the object belongs to (a version's, a request's, an approval's), null if none.
    scope = models.BigIntegerField(null=True)
    since = models.BigIntegerField()
    until = models.BigIntegerField(null=True)
    fields = models.JSONField()

    class Meta:
        verbose_name = "state span"
        indexes = [
            models.Index(fields=["object_type", "number", "since"], name="audit_span_number"),
            models.Index(fields=["object_type", "scope", "since"], name="audit_span_scope"),
            models.Index(fields=["object_type", "object_id", "since"], name="audit_span_object"),
        ]

    def __str__(self) -> str:
        return f"{self.object_type}#{self.object_id} [{self.since}, {self.until or '…'})"


class StateHead(models.Model):
    """One row: the last entry the state spans have folded in. Locked while they catch up."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "state head"
