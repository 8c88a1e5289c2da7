"""Governance in the admin: the approval queue, the approval page, bulk decisions, policies — all via services."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

import governance.accounts_admin  # noqa: F401  (registers the admin of user accounts and roles)
from config.admin_base import ModelAdmin
from config.admin_lists import QuickActionCheckbox
from config.admin_readonly import ReadOnlyAdmin
from config.admin_refusals import ServiceFormAdmin, ServiceRefused
from config.admin_rows import FastChangeListAdmin
from config.errors import DomainError
from config.ids import ascii_digits
from config.json_input import JSONFormField
from config.paging import CountedPaginator
from governance import inventory_admin, rules, selectors, services, tokens
from governance.models import ApiToken, ApproverRole, Policy, PromotionRequest


class AwaitingFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("me", "Awaiting my decision"), ("all", "All requests")]

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": (self.value() or "me") == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        # Set on every run of the filter, so that a change list built again from the same request with the other
        # choice does not read the count of the first.
        setattr(request, _QUEUE_COUNT, None)  # read by PromotionRequestAdmin.get_paginator
        if (self.value() or "me") == "me":
            filtered, count = selectors.awaiting_filter_counted(queryset, request.user)
            setattr(request, _QUEUE_COUNT, count)
            return filtered
        return queryset


# The request attribute holding the count of the queue as the filter read it (same user, roles and moment).
_QUEUE_COUNT = "governance_queue_count"
# The change list's parameters that leave the queue's rows as they are: its page, its order, the filter itself.
_QUEUE_ALONE = frozenset({AwaitingFilter.parameter_name, "p", "o"})


class RoleActionForm(helpers.ActionForm):
    role = forms.ChoiceField(choices=ApproverRole.choices, required=False)
    comment = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 40}))


@admin.register(PromotionRequest)
class PromotionRequestAdmin(ReadOnlyAdmin, FastChangeListAdmin, QuickActionCheckbox, ModelAdmin):
    list_display = ("id", "version", "target_stage", "status", "requested_by", "created_at", "is_revalidation")
    list_filter = (AwaitingFilter, "status", "target_stage", "is_revalidation")
    search_fields = ("version__model__name", "justification")
    list_select_related = ("version", "version__model", "requested_by")
    # A version shows as "<model name> v<version>"; a request as "Request #<id>: version <id> to <stage>"
    list_only = ("version__model__name", "version__version", "target_stage", "status", "requested_by__username",
                 "created_at", "is_revalidation")
    action_form = RoleActionForm
    actions = ["approve_selected", "reject_selected"]
    show_full_result_count = False
    list_per_page = 50  # as the audit log: rendering each row is most of the page's CPU

    def get_paginator(self, request: HttpRequest, queryset: Any, per_page: int, orphans: int = 0,
                      allow_empty_first_page: bool = True) -> Any:
        """The queue with no other filter or search is counted from the table of open slots, as the API counts it;
        any other list counts its own rows."""
        count = getattr(request, _QUEUE_COUNT, None)
        if count is not None and set(request.GET) <= _QUEUE_ALONE:
            return CountedPaginator(queryset, per_page, orphans, allow_empty_first_page, count_upto=count)
        return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)

    def get_urls(self) -> list[Any]:
        own = [
            path("<int:pk>/review/", self.admin_site.admin_view(self.review_view), name="governance_request_review"),
            # Here for want of a model of its own: an admin site takes its URLs from its models' admins.
            *inventory_admin.urls(self.admin_site),
        ]
        return own + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not ascii_digits(object_id):
            raise Http404(f"no promotion request {object_id!r}")  # the review page's URL takes a number
        return HttpResponseRedirect(reverse("admin:governance_request_review", args=[object_id]))

    def review_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The approval page: version, evidence with digests and verdicts, gates, frozen policy, decide."""
        obj = get_object_or_404(selectors.request_list(), pk=pk)
        # The admin's own views check this; a view of one's own does not get it for free. Deciding is the
        # service's to allow (roles and separation of duties).
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        if request.method == "POST":
            decision = "reject" if "_reject" in request.POST else "approve"
            try:
                services.approval_record(request=obj, by=request.user, role=request.POST.get("role", ""),
                                         decision=decision, comment=request.POST.get("comment", ""))
            except DomainError as exc:
                self.message_user(request, f"Refused: {exc.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"Your {decision} decision on request #{pk} is recorded.")
            return HttpResponseRedirect(request.path)
        detail = selectors.request_detail(obj, request.user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Review promotion request #{obj.pk}",
            "req": obj,
            "version": obj.version,
            "approvals": obj.approvals.all(),
            "frozen_policy": json.dumps(obj.policy_rule, indent=2),
            **detail,
        }
        return TemplateResponse(request, "admin/governance/review.html", context)

    def _decide_selected(self, request: HttpRequest, queryset: Any, decision: str) -> None:
        role, comment = request.POST.get("role", ""), request.POST.get("comment", "")
        done = 0
        for obj in queryset:
            try:
                services.approval_record(request=obj, by=request.user, role=role, decision=decision, comment=comment)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"Request #{obj.pk}: {exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, f"{decision.capitalize()}d {done} request(s) as {role}.")

    @admin.action(description="Approve selected, in the role chosen")
    def approve_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._decide_selected(request, queryset, "approve")

    @admin.action(description="Reject selected, in the role chosen (comment required)")
    def reject_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._decide_selected(request, queryset, "reject")


class PolicyForm(forms.ModelForm):
    rules = JSONFormField()

    class Meta:
        model = Policy
        fields = ["name", "description", "rules"]


@admin.register(Policy)
class PolicyAdmin(ServiceFormAdmin):
    form = PolicyForm
    list_display = ("name", "version", "is_active", "updated_by", "updated_at")
    actions = ["activate_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("name",) if obj else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                services.policy_update(policy=obj, by=request.user, rules_=data["rules"],
                                       description=data["description"])
            else:
                created = services.policy_create(by=request.user, name=data["name"], rules_=data["rules"],
                                                 description=data["description"])
                obj.pk = created.pk
                obj._state.adding = False
        except DomainError as exc:
            raise ServiceRefused(exc) from exc

    @admin.action(description="Make the selected policy the one in force")
    def activate_selected(self, request: HttpRequest, queryset: Any) -> None:
        for policy in queryset[:1]:
            try:
                services.policy_activate(policy=policy, by=request.user)
            except DomainError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin, ModelAdmin):
    # A token changes only by being revoked, through the service (owner or governance admin, audited).
    list_display = ("name", "user", "prefix", "created_at", "expires_at", "revoked_at")
    list_select_related = ("user",)
    readonly_fields = ("name", "user", "prefix", "created_at", "expires_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ["revoke_selected"]

    @admin.action(description="Revoke the selected tokens")
    def revoke_selected(self, request: HttpRequest, queryset: Any) -> None:
        revoked = 0
        for token in queryset.select_related("user"):
            try:
                tokens.token_revoke(token=token, by=request.user)
                revoked += 1
            except DomainError as exc:
                self.message_user(request, f"{token.name} ({token.prefix}): {exc.message}", level=messages.ERROR)
        if revoked:
            self.message_user(request, f"{revoked} token(s) revoked.")


__all__ = ["rules"]
