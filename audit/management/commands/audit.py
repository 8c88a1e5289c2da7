"""`manage.py audit verify|export|checkpoint|spans|record-digests|proof`: the log's operations from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from audit import writer
from audit.context import audit_context, system_actor
from config.errors import DomainError


class Command(BaseCommand):
    help = "Verify, export and checkpoint the audit log."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="check every entry and checkpoint (spec section 6)")
        verify.add_argument("--against", metavar="DIR|s3://BUCKET",
                            help="also check the checkpoint copies kept in this directory or bucket")
        verify.add_argument("--quiet", action="store_true", help="no progress bar")
        verify.add_argument("--no-state", action="store_true",
                            help="check the chain only: do not reconcile the tables with the state the log says")
        verify.add_argument("--show", type=int, default=50, metavar="N",
                            help="name at most N differences between the log and the tables (default 50)")
        export = sub.add_parser("export", help="write the export bundle (spec section 5)")
        export.add_argument("dest", type=Path)
        export.add_argument("--from", dest="from_seq", type=int)
        export.add_argument("--to", dest="to_seq", type=int)
        export.add_argument("--quiet", action="store_true")
        checkpoint = sub.add_parser("checkpoint", help="sign a checkpoint now (or only when due)")
        checkpoint.add_argument("--if-due", action="store_true", help="only when N entries or T minutes passed")
        spans = sub.add_parser("spans", help="bring the spans 'as of' reads up to the log's head, or rebuild or "
                                             "check them against the entries")
        spans.add_argument("--rebuild", action="store_true", help="start them over from the first entry")
        spans.add_argument("--check", action="store_true", help="derive them afresh and name each that differs")
        sub.add_parser("record-digests", help="once after upgrading: record the digest of every secret whose "
                                              "entries were written before they carried one")
        proof = sub.add_parser("proof", help="inclusion proof of an entry, or consistency between two sizes")
        proof.add_argument("--seq", type=int)
        proof.add_argument("--size", type=int)
        proof.add_argument("--old-size", type=int)

    def handle(self, *args: Any, **opts: Any) -> None:
        with audit_context(actor=system_actor("manage.py audit"), channel="cli"):
            try:
                getattr(self, f"do_{opts['action'].replace('-', '_')}")(**opts)
            except DomainError as exc:
                raise CommandError(exc.message) from exc

    def _bar(self, quiet: bool, total: int, unit: str) -> Any:
        return tqdm(total=total, unit=unit, disable=quiet, file=self.stderr._out, mininterval=0.5)

    def do_verify(self, *, against: str | None = None, quiet: bool = False, no_state: bool = False,
                  show: int = 50, **_: Any) -> None:
        from audit.verification import StateCheck, verify_log

        head_seq = writer.head()[0]
        state = None if no_state else StateCheck(limit=max(show, 0))
        with self._bar(quiet, head_seq, "entries") as bar:
            run = verify_log(progress=bar.update, external_checkpoints=against, state=state)
        if state is not None and state.count:
            for divergence in state.first:
                self.stdout.write(str(divergence))
            if state.count > len(state.first):
                self.stdout.write(f"... and {state.count - len(state.first)} more")
            raise CommandError(
                f"the tables differ from the state the log says: {state.count} difference(s) "
                f"(entries 1..{run.last_seq} verified; the chain itself is intact)")
        if not run.ok:
            where = f"seq {run.failed_seq}" if run.failed_seq is not None else "the log"
            raise CommandError(f"verification FAILED at {where}: rule {run.rule}: {run.message}")
        self.stdout.write(
            f"verified {run.entries_checked} entries (seq 1..{run.last_seq}) and "
            f"{run.checkpoints_checked} checkpoint(s): OK"
        )
        if state is not None and state.done:
            self.stdout.write("state: the tables are what the log says (every governed object, field and link), "
                              "and so are the spans 'as of' reads")
        if run.message:
            self.stdout.write(run.message)

    def do_export(self, *, dest: Path, from_seq: int | None, to_seq: int | None, quiet: bool = False,
                  **_: Any) -> None:
        from audit.export import export_bundle

        head_seq = writer.head()[0]
        with self._bar(quiet, head_seq, "entries") as bar:
            result = export_bundle(dest, from_seq=from_seq, to_seq=to_seq, progress=bar.update)
        self.stdout.write(
            f"exported seq {result.first_seq}..{result.last_seq} ({result.entries} entries, "
            f"{result.checkpoints} checkpoints) to {result.path}"
        )

    def do_checkpoint(self, *, if_due: bool = False, **_: Any) -> None:
        from audit.checkpoints import checkpoint_create, checkpoint_due
        from audit.mirror import mirror_recent

        if if_due and not checkpoint_due():
            self.stdout.write("no checkpoint due")
        else:
            self.stdout.write(json.dumps(checkpoint_create().as_json(), indent=2))
        # Also copies the latest checkpoints an earlier run could not mirror.
        failures = mirror_recent()
        if failures:
            raise CommandError("checkpoints are signed and stored, but not all mirrored (tried again on the next "
                               "run): " + "; ".join(failures))

    def do_spans(self, *, rebuild: bool = False, check: bool = False, **_: Any) -> None:
        import time

        from audit import history

        started = time.perf_counter()
        head = history.rebuild() if rebuild else history.catch_up()
        self.stdout.write(f"spans folded up to entry {head} in {time.perf_counter() - started:.1f} s")
        if check:
            found = [str(d) for d in history.check()]
            for line in found:
                self.stdout.write(line)
            if found:
                raise CommandError(f"{len(found)} span(s) differ from what the entries give: rebuild them "
                                   "(--rebuild), and find who wrote them")
            self.stdout.write("spans: what the entries give")

    def do_record_digests(self, **_: Any) -> None:
        from audit import secret_digests

        made = secret_digests.record_missing()
        self.stdout.write(f"recorded the digests of {made} object(s)' secrets" if made else
                          "every secret's digest is already in the log")

    def do_proof(self, *, seq: int | None, size: int | None, old_size: int | None, **_: Any) -> None:
        from audit import proofs

        if seq is not None:
            self.stdout.write(json.dumps(proofs.inclusion(seq=seq, size=size), indent=2))
        elif old_size is not None:
            self.stdout.write(json.dumps(proofs.consistency(old_size=old_size, size=size), indent=2))
        else:
            raise CommandError("give --seq (inclusion) or --old-size (consistency)")
