"""The admin of user accounts, roles and service accounts (Django's own, with the rules of who may grant what).

A governance admin manages who holds which role, but may not raise anyone, themselves included, above what a
role grants: superuser status and permissions given one by one are a superuser's to set, a superuser's account
a superuser's to change, another person's password a superuser's to set, a role's permissions a superuser's to
edit, a role's group keeps its name, and nobody, superusers included, changes their own roles. The user form's
roles are saved by governance.accounts (role_grant / role_revoke, each with its entry); a refusal comes back on
the form.
"""

from __future__ import annotations

from typing import Any

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse

from config.admin_base import ModelAdmin
from config.admin_readonly import ReadOnlyAdmin
from config.admin_refusals import ServiceFormAdmin, ServiceRefused
from config.errors import DomainError
from governance import accounts, rules
from governance.models import ServiceAccount
from governance.roles import LABELS, SERVICE_ACCOUNT_ROLES


class AccountAdmin(ServiceFormAdmin, UserAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), *rules.account_fields_closed_to(request.user, obj))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Also guards the password form, which asks this of the account it would change.
        return super().has_change_permission(request, obj) and rules.may_administer_account(request.user, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and rules.may_administer_account(request.user, obj)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        # Whoever sets a person's password can sign in as them and act in their roles: a superuser only, or the
        # person themselves.
        account = self.get_object(request, unquote(id))
        if account is not None and not rules.may_set_password(request.user, account):
            raise DjangoPermissionDenied
        return super().user_change_password(request, id, form_url)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Not form.save_m2m()'s groups.set(): a role is granted or removed by the services, with its entry.
        wanted = form.cleaned_data.pop("groups", None)  # absent where the field is read-only
        super().save_related(request, form, formsets, change)
        if wanted is not None:
            try:
                accounts.account_groups_set(user=form.instance, groups=list(wanted), by=request.user)
            except DomainError as exc:
                raise ServiceRefused(exc) from exc


class RoleAdmin(ModelAdmin, GroupAdmin):
    readonly_fields = ("role_code", "members")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        closed: tuple[str, ...] = () if request.user.is_superuser else ("permissions",)
        if obj is not None and hasattr(obj, "role"):
            closed += ("name",)  # a role's group keeps its name (governance.memberships refuses it anyway)
        return (*super().get_readonly_fields(request, obj), *closed)

    @admin.display(description="role code")
    def role_code(self, obj: Group) -> str:
        return obj.role.code if hasattr(obj, "role") else "— (no role: this group grants no role)"

    @admin.display(description="members")
    def members(self, obj: Group) -> str:
        # Shown, not edited here: members are granted on each user's form, through the services.
        names = sorted(obj.user_set.values_list("username", flat=True)) if obj.pk else []
        return ", ".join(names) or "—"


class ServiceAccountForm(forms.ModelForm):
    username = forms.CharField(max_length=150)
    roles = forms.MultipleChoiceField(
        choices=[(code, LABELS[code]) for code in sorted(SERVICE_ACCOUNT_ROLES)], required=False,
        widget=forms.CheckboxSelectMultiple, help_text="a service account never holds an approver's or admin's role")

    class Meta:
        model = ServiceAccount
        fields = ["username", "owner", "purpose", "roles"]


@admin.register(ServiceAccount)
class ServiceAccountAdmin(ReadOnlyAdmin, ServiceFormAdmin):
    """Service accounts, listed for governance admins; created and disabled through governance.accounts."""

    form = ServiceAccountForm
    list_display = ("user", "owner", "purpose", "created_by", "created_at", "disabled_at")
    list_select_related = ("user", "owner", "created_by")
    search_fields = ("user__username", "owner__username", "purpose")
    actions = ["disable_selected"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The one change made on the form: creating an account, through the service (save_model).
        return rules.is_account_admin(request.user)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            created = accounts.service_account_create(by=request.user, owner=data["owner"],
                                                      username=data["username"], purpose=data["purpose"],
                                                      roles=data["roles"])
        except DomainError as exc:
            raise ServiceRefused(exc) from exc
        obj.pk = created.pk
        obj.user = created.user
        obj._state.adding = False

    @admin.action(description="Disable the selected service accounts and revoke their tokens")
    def disable_selected(self, request: HttpRequest, queryset: Any) -> None:
        for account in queryset.select_related("user"):
            try:
                accounts.service_account_disable(account=account, by=request.user)
            except DomainError as exc:
                self.message_user(request, f"{account.user}: {exc.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"{account.user} disabled; its tokens are revoked.")


class AccessAttemptAdmin(ModelAdmin, axes_admin.AccessAttemptAdmin):
    """django-axes' lockouts (deleting one lifts it, with its entry: audit.auth_events)."""


class AccessLogAdmin(ModelAdmin, axes_admin.AccessLogAdmin):
    pass


class AccessFailureLogAdmin(ModelAdmin, axes_admin.AccessFailureLogAdmin):
    pass


# Django's and django-axes' own admins, registered again as the project's (config.admin_base).
for model, model_admin in ((get_user_model(), AccountAdmin), (Group, RoleAdmin), (AccessAttempt, AccessAttemptAdmin),
                           (AccessLog, AccessLogAdmin), (AccessFailureLog, AccessFailureLogAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
        admin.site.register(model, model_admin)
