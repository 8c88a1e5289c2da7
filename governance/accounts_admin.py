"""The admin of user accounts and roles (Django's own, with the rules of who may grant what).

A governance admin manages who holds which role, but may not raise anyone, themselves included, above what a
role grants: superuser status and permissions given one by one are a superuser's to set, a superuser's account
(its password too) a superuser's to change, a role's permissions a superuser's to edit, and nobody changes their
own roles or account status. Every change is audited as before (audit.auth_events).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from governance import rules


class AccountAdmin(UserAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), *rules.account_fields_closed_to(request.user, obj))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Also guards the password form, which asks this of the account it would change.
        return super().has_change_permission(request, obj) and rules.may_administer_account(request.user, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and rules.may_administer_account(request.user, obj)


class RoleAdmin(GroupAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        closed = () if request.user.is_superuser else ("permissions",)
        return (*super().get_readonly_fields(request, obj), *closed)


for model, model_admin in ((get_user_model(), AccountAdmin), (Group, RoleAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
