"""`manage.py demo`: the end-to-end governance run on German Credit data (safe to run again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Run the end-to-end demo on the embedded default and print a summary."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--export-root", type=Path, default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        from demo.run import password, run

        root = opts["export_root"] or Path(settings.VAR_DIR) / "demo"
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, no permission: said plainly, before anything is written
            raise CommandError(f"cannot use {root} for the demo's exports: {exc.strerror or exc}") from exc
        out = run(lambda text: self.stdout.write(text), root)
        w = self.stdout.write
        w("")
        w("Demo users (demo only — change or delete them before any real use):")
        for username, role in out.users.items():
            w(f"  {username:<11} {password(username):<22} {role}")
        w("")
        for name, version in out.versions.items():
            performance = out.reports[name]["performance"]
            measured = ((performance.metrics or {}).get("metrics") or {}).get("roc_auc", {}).get("value")
            w(f"{name}: {version} stage={version.stage} roc_auc declared={version.metrics.get('roc_auc')} "
              f"measured={measured} (performance report #{performance.pk}) sha256={version.artifact_sha256[:16]}…")
            for kind, report in out.reports[name].items():
                where = Path(settings.MEDIA_ROOT) / str(report.pdf.name) if report.pdf else "-"
                w(f"    {kind:<15} {report.status:<9} verdict={report.verdict or '-':<5} {where}")
        assert out.v1_request is not None and out.v2_request is not None
        w(f"v1 promotion request #{out.v1_request.pk}: {out.v1_request.status} — its gates fail: "
          + "; ".join(g.detail for g in out.v1_gates if not g.passed))
        w(f"v1 approval by the validator: refused — {out.v1_approval_refused or 'already refused in an earlier run'}")
        w(f"v2 promotion request #{out.v2_request.pk}: {out.v2_request.status}")
        refused = out.self_approval_refused or "already refused in an earlier run"
        w(f"self-approval by the requester: refused — {refused}")
        for month in out.months:
            e = month.evaluation
            state = (e.colour or "not judged") if e is not None and e.status == "succeeded" else \
                (f"failed: {e.error}" if e is not None else "not measured")
            w(f"monitoring {month.name}: batch #{month.batch.pk} ({month.batch.row_count} rows, merkle root "
              f"{month.batch.merkle_root[:16]}…) evaluation #{e.pk if e else '-'}: {state}")
            if month.breach is not None:
                b = month.breach
                worst = b.findings[0] if b.findings else {}
                opened = f"re-validation request #{b.request_id} opened" if b.request_id else (
                    f"hold #{b.hold_id} placed" if b.hold_id else "owner and validators notified")
                w(f"    {b.colour} breach #{b.pk}: {worst.get('metric')} of {worst.get('subject')} = "
                  f"{round(worst['value'], 3) if isinstance(worst.get('value'), float) else worst.get('value')} "
                  f"(red at {worst.get('red')}) — {opened}")
        run_ = out.verified
        w(f"audit log: {'verified' if run_.ok else 'VERIFICATION FAILED'} ({run_.entries_checked} entries), "
          f"head seq {run_.last_seq}")
        w(f"audit export: {out.export_dir} — standalone verifier: {out.export_summary}")
        w("  verify it yourself: python -m audit.verifier " + str(out.export_dir))
