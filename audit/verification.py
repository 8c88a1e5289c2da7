"""Verifying the live log: stream it from the database through the outsider's checker and record the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit import checkpoints, mirror, writer
from audit.export import stored_rows
from audit.models import ENTRY_COLUMNS, Checkpoint, VerificationRun, entry_columns
from audit.verifier import LogChecker


@dataclass
class StateCheck:
    """What reconciling the tables with the log found: the first `limit` divergences, and how many in all."""

    limit: int
    first: list[Any] = field(default_factory=list)
    count: int = 0
    done: bool = False

    def add(self, divergence: Any) -> None:
        self.count += 1
        if len(self.first) < self.limit:
            self.first.append(divergence)


@contextmanager
def _snapshot() -> Iterator[None]:
    """One view of the log's head and the tables, however writes go on meanwhile: on PostgreSQL a read-only
    REPEATABLE READ transaction (its first statement; not available inside a transaction already open), on
    SQLite a transaction, whose reads see one snapshot from the first."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def verify_log(
    *, progress: Callable[[int], None] | None = None, external_checkpoints: str | Path | None = None,
    state: StateCheck | None = None,
) -> VerificationRun:
    """Check every entry and checkpoint (spec section 6) in constant memory; record the outcome.

    The checking itself is the standalone verifier's: the database is read the way an outsider
    would read an export, so the installation trusts nothing the auditor would not.

    With `state`, the entries are also folded into the state they say (audit.replay), in the same pass, and
    once the chain checks pass that state is reconciled with the tables (audit.reconcile): each divergence
    goes into `state`, and any fails the run (rule `state.divergence`).
    """
    started = timezone.now()
    with _snapshot() if state is not None else nullcontext():
        result, fed_state = _check(progress, external_checkpoints, state)
        if state is not None and result.ok and fed_state is not None:
            from audit.reconcile import reconcile

            for divergence in reconcile(fed_state):
                state.add(divergence)
            # The spans "as of" reads (audit.history) are the log's too: each one the entries do not give.
            from audit.history import check

            for span_divergence in check(limit=max(state.limit, 1)):
                state.add(span_divergence)
            state.done = True
    ok, rule, message = result.ok, result.rule or "", result.message or "; ".join(result.notices)
    if state is not None and state.count:
        ok, rule = False, "state.divergence"
        message = f"{state.count} difference(s) between the state the log says and the tables"
        if state.first:
            message += f"; first: {state.first[0]}"
    run = VerificationRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        ok=ok,
        entries_checked=result.entries,
        last_seq=result.last_seq or 0,
        checkpoints_checked=result.checkpoints_checked,
        failed_seq=result.failed_seq if result.failed_seq is not None else result.failed_checkpoint_size,
        rule=rule,
        message=message,
    )
    writer.record(
        action="audit.log.verify",
        obj=writer.ObjectRef(type="audit.log", id="log", repr="audit log"),
        changes={"verification": {"old": None, "new": _summary(run)}},
    )
    return run


def _check(progress: Callable[[int], None] | None, external_checkpoints: str | Path | None,
           state: StateCheck | None) -> tuple[Any, Any]:
    from audit import replay, signing

    fold_state = apply = None
    if state is not None:
        from audit.reconcile import schema

        plan = schema()
        fold_state = replay.new_state(plan)
        apply = replay.applier(plan, fold_state)
    head_seq, _, _ = writer.head()
    checker = LogChecker(whole_log_to=head_seq)
    seen = set()
    for cp in Checkpoint.objects.order_by("size"):
        seen.add(cp.document)
        try:
            pem = signing.public_key_pem(cp.key_id)
        except KeyError:
            pem = b""  # the verifier names the checkpoint and the missing key
        checker.add_checkpoint(cp.as_json(), pem)
    if external_checkpoints is not None:
        # Checkpoints kept outside the database catch what a database superuser could do:
        # truncate the log or rewrite it with every hash recomputed.
        for body, pem in mirror.mirrored_checkpoints(external_checkpoints):
            document = checkpoints.document(body)
            if document not in seen:
                seen.add(document)
                checker.add_checkpoint(body, pem)
    fed = 0
    for raw, digest, ts, *columns in stored_rows(1, head_seq):
        # Exactly `feed` of the export line made from the row, quicker when the row is as written.
        checker.feed_stored(bytes(raw), digest)
        if not checker.failed:
            _check_columns(checker, ts, tuple(columns))
        if apply is not None and not checker.failed:
            apply(checker.last_entry)
        fed += 1
        if progress and fed % 10_000 == 0:
            progress(10_000)
        if checker.failed:
            break
    if progress:
        progress(fed % 10_000)
    if fold_state is not None:
        fold_state.entries = fed
    return checker.finish(), fold_state


def _check_columns(checker: LogChecker, ts: str, columns: tuple[Any, ...]) -> None:
    """The plain columns the API and the admin filter by must say what the hashed entry says: a column
    changed in the database (an object_id, say) would hide an entry from an object's history."""
    entry = checker.last_entry
    try:
        expected = entry_columns(entry)
        same = columns == expected and ts == entry["ts"]
    except (KeyError, TypeError, AttributeError):
        same, expected = False, ()
    if not same:
        differ = [name for name, have, want in zip(ENTRY_COLUMNS, columns, expected, strict=False) if have != want]
        if not expected or ts != entry.get("ts"):
            differ.append("ts")
        checker.fail(entry.get("seq", 0), "row.columns", "the stored columns differ from the hashed entry: "
                     + ", ".join(differ))


def _summary(run: VerificationRun) -> dict[str, Any]:
    return {
        "ok": run.ok, "entries_checked": run.entries_checked, "last_seq": run.last_seq,
        "checkpoints_checked": run.checkpoints_checked, "failed_seq": run.failed_seq, "rule": run.rule,
    }
