"""`manage.py governance`: the workflow from the shell, through the same services as the API and admin."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.context import audit_context, system_actor, user_actor
from config.errors import DomainError
from governance import selectors, services, slots
from governance.models import PromotionRequest
from registry.models import ModelVersion


class Command(BaseCommand):
    help = "Promotion requests and decisions, expiry and re-validation."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        request = sub.add_parser("request", help="ask to promote a version")
        request.add_argument("version", type=int)
        request.add_argument("stage", choices=["staging", "production"])
        request.add_argument("--justification", required=True)
        for name in ("approve", "reject"):
            p = sub.add_parser(name)
            p.add_argument("request", type=int)
            p.add_argument("--role", required=True, choices=["validator", "risk_officer", "compliance_officer"])
            p.add_argument("--comment", default="")
        withdraw = sub.add_parser("withdraw")
        withdraw.add_argument("request", type=int)
        show = sub.add_parser("show")
        show.add_argument("request", type=int)
        listing = sub.add_parser("list")
        listing.add_argument("--status")
        listing.add_argument("--awaiting-me", action="store_true")
        sub.add_parser("expire", help="expire stale requests (the scheduled job)")
        sub.add_parser("revalidate", help="open re-validation requests that are due (the scheduled job)")
        sub.add_parser("rebuild-slots", help="derive the queue's table of open slots again from requests and "
                                             "approvals; says how many requests it found different")
        for p in sub.choices.values():
            p.add_argument("--as", dest="username", help="act as this user (required for decisions)")

    def handle(self, *args: Any, **opts: Any) -> None:
        user = self._user(opts.get("username"))
        actor = user_actor(user) if user else system_actor(f"manage.py governance {opts['action']}")
        with audit_context(actor=actor, channel="cli"):
            try:
                getattr(self, f"do_{opts['action'].replace('-', '_')}")(user, **opts)
            except DomainError as exc:
                raise CommandError(f"{exc.message}" + (f" [{exc.rule}]" if exc.rule else "")) from exc

    def _user(self, username: str | None) -> Any:
        if not username:
            return None
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        return user

    def _need(self, user: Any) -> Any:
        if user is None:
            raise CommandError("this action needs --as USERNAME")
        return user

    def _request(self, pk: int) -> PromotionRequest:
        obj = selectors.request_list().filter(pk=pk).first()
        if obj is None:
            raise CommandError(f"no promotion request #{pk}")
        return obj

    def _print(self, obj: PromotionRequest, user: Any) -> None:
        detail = selectors.request_detail(obj, user) if user else {}
        self.stdout.write(json.dumps({
            "id": obj.pk, "version": str(obj.version), "target_stage": obj.target_stage, "status": obj.status,
            "approvals": [{"who": a.approver.username, "role": a.role, "decision": a.decision,
                           "lapsed": a.lapsed_at is not None} for a in obj.approvals.all()],
            "gates": detail.get("gates", []), "open_slots": detail.get("open_slots", {}),
        }, indent=2, default=str))

    def do_request(self, user: Any, *, version: int, stage: str, justification: str, **_: Any) -> None:
        target = ModelVersion.objects.filter(pk=version).select_related("model").first()
        if target is None:
            raise CommandError(f"no model version #{version}")
        created = services.promotion_request_create(version=target, target_stage=stage,
                                                    justification=justification, by=self._need(user))
        self._print(self._request(created.pk), user)

    def do_approve(self, user: Any, *, request: int, role: str, comment: str, **_: Any) -> None:
        services.approval_record(request=self._request(request), by=self._need(user), role=role,
                                 decision="approve", comment=comment)
        self._print(self._request(request), user)

    def do_reject(self, user: Any, *, request: int, role: str, comment: str, **_: Any) -> None:
        services.approval_record(request=self._request(request), by=self._need(user), role=role,
                                 decision="reject", comment=comment)
        self._print(self._request(request), user)

    def do_withdraw(self, user: Any, *, request: int, **_: Any) -> None:
        services.promotion_request_withdraw(request=self._request(request), by=self._need(user))
        self._print(self._request(request), user)

    def do_show(self, user: Any, *, request: int, **_: Any) -> None:
        self._print(self._request(request), user)

    def do_list(self, user: Any, *, status: str | None = None, awaiting_me: bool = False, **_: Any) -> None:
        qs = selectors.awaiting(self._need(user)) if awaiting_me else selectors.request_list()
        if status:
            qs = qs.filter(status=status)
        for obj in qs.order_by("-created_at")[:200]:
            self.stdout.write(f"#{obj.pk}\t{obj.version}\t-> {obj.target_stage}\t{obj.status}")

    def do_expire(self, user: Any, **_: Any) -> None:
        self.stdout.write(f"expired {services.promotion_requests_expire()} request(s)")

    def do_revalidate(self, user: Any, **_: Any) -> None:
        opened = services.revalidation_open_due()
        self.stdout.write(f"opened {len(opened)} re-validation request(s)")

    def do_rebuild_slots(self, user: Any, **_: Any) -> None:
        self.stdout.write(f"open slots derived again: {slots.slots_rebuild()} request(s) differed")
