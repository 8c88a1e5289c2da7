"""`manage.py reports generate|dispatch|show`: evidence reports from the shell, via the same services."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.context import audit_context, system_actor, user_actor
from config.errors import DomainError
from governance.evidence import report_config
from registry.models import DatasetVersion, ModelVersion
from reports import services
from reports.models import ALL_KINDS, Report, ReportKind


class Command(BaseCommand):
    help = "Generate evidence reports, re-dispatch queued ones, show one."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        gen = sub.add_parser("generate")
        gen.add_argument("version", type=int)
        gen.add_argument("--kind", action="append", choices=ReportKind.values)
        gen.add_argument("--dataset", type=int, help="evaluation dataset version id")
        gen.add_argument("--as", dest="username")
        sub.add_parser("dispatch", help="send reports left queued (e.g. after a broker outage) to the workers")
        show = sub.add_parser("show")
        show.add_argument("report", type=int)

    def handle(self, *args: Any, **opts: Any) -> None:
        user = None
        if opts.get("username"):
            user = get_user_model().objects.filter(username=opts["username"]).first()
            if user is None:
                raise CommandError(f"no user {opts['username']!r}")
        actor = user_actor(user) if user else system_actor(f"manage.py reports {opts['action']}")
        with audit_context(actor=actor, channel="cli"):
            try:
                getattr(self, f"do_{opts['action']}")(user, **opts)
            except DomainError as exc:
                raise CommandError(exc.message) from exc

    def do_generate(self, user: Any, *, version: int, kind: list[str] | None, dataset: int | None, **_: Any) -> None:
        target = ModelVersion.objects.select_related("model").filter(pk=version).first()
        if target is None:
            raise CommandError(f"no model version #{version}")
        evaluation = DatasetVersion.objects.filter(pk=dataset).first() if dataset else None
        if dataset and evaluation is None:
            raise CommandError(f"no dataset version #{dataset}")
        for k in kind or list(ALL_KINDS):
            report = services.report_request(version=target, kind=k, by=user, evaluation_dataset=evaluation,
                                             config=report_config(target, k))
            report.refresh_from_db()
            self.stdout.write(f"report #{report.pk} {k}: {report.status} {report.verdict} {report.error}".rstrip())

    def do_dispatch(self, user: Any, **_: Any) -> None:
        self.stdout.write(f"dispatched {services.reports_dispatch_queued()} queued report(s)")

    def do_show(self, user: Any, *, report: int, **_: Any) -> None:
        obj = Report.objects.filter(pk=report).first()
        if obj is None:
            raise CommandError(f"no report #{report}")
        self.stdout.write(json.dumps({"id": obj.pk, "kind": obj.kind, "status": obj.status, "verdict": obj.verdict,
                                      "error": obj.error, "pdf_sha256": obj.pdf_sha256,
                                      "json_sha256": obj.json_sha256}, indent=2))
