"""A receipt for one decision a model made: the row as the batch holds it, its inclusion in the batch's tree, and
the batch entry's inclusion in a signed checkpoint, checkable offline (`python -m audit.verifier --receipt`)."""

from __future__ import annotations

from typing import Any

from audit import proofs
from audit.format.receipt import audit_path, receipt_document
from audit.models import AuditEntry, Checkpoint
from config.errors import Conflict, InvalidInput
from monitoring import rows
from monitoring.files import batch_chunks
from monitoring.models import Batch


def row_line(batch: Batch, index: int) -> bytes:
    """Row `index` of the batch (from 0), rendered as its leaf was (monitoring/rows.py)."""
    start = 0
    for chunk in batch_chunks(batch):
        if index < start + len(chunk):
            return rows.render_lines(chunk.iloc[[index - start]])[0]
        start += len(chunk)
    raise InvalidInput(f"batch {batch.pk} has {start} rows; row {index} is not one of them")


def receipt(*, batch: Batch, index: int) -> dict[str, Any]:
    if not 0 <= index < batch.row_count:
        raise InvalidInput(f"row must be from 0 to {batch.row_count - 1}: batch #{batch.pk} has {batch.row_count} rows")
    entry = AuditEntry.objects.filter(object_type="monitoring.batch", object_id=str(batch.pk),
                                      action="monitoring.batch.ingest").order_by("seq").first()
    if entry is None:
        raise Conflict(f"batch #{batch.pk} has no ingest entry in the log: it was not received through modelgov")
    cp = Checkpoint.objects.order_by("-size").first()
    if cp is None or cp.size < entry.seq:
        raise Conflict(f"batch #{batch.pk}'s entry (seq {entry.seq}) is not yet under a signed checkpoint; one is "
                       "made every minute (or `manage.py audit checkpoint`): ask again then",
                       rule="receipt.not_checkpointed")
    with batch.leaves.open("rb") as fh:
        leaves = fh.read()
    return receipt_document(
        index=index, line=row_line(batch, index), columns=batch.columns, batch_id=batch.pk, sha256=batch.sha256,
        row_count=batch.row_count, merkle_root=bytes.fromhex(batch.merkle_root),
        row_proof=audit_path(index, leaves, batch.row_count),
        entry_proof={"entry": entry.as_json(), "inclusion": proofs.inclusion(seq=entry.seq, size=cp.size)},
    )
