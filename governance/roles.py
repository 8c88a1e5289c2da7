"""The roles of model risk management as Django groups, with the model permissions each holds."""

from __future__ import annotations

from typing import Any

MODEL_DEVELOPER = "model developer"
MODEL_VALIDATOR = "model validator"
RISK_OFFICER = "risk officer"
COMPLIANCE_OFFICER = "compliance officer"
AUDITOR = "auditor"
GOVERNANCE_ADMIN = "governance admin"

ALL_ROLES = (MODEL_DEVELOPER, MODEL_VALIDATOR, RISK_OFFICER, COMPLIANCE_OFFICER, AUDITOR, GOVERNANCE_ADMIN)
# Roles that can fill an approval slot, by the slot's key in a policy.
APPROVER_ROLES = {
    "validator": MODEL_VALIDATOR,
    "risk_officer": RISK_OFFICER,
    "compliance_officer": COMPLIANCE_OFFICER,
}

_VIEW_ALL = [
    "governance.view_policy", "governance.view_promotionrequest", "governance.view_approval",
    "reports.view_report", "registry.view_registeredmodel", "registry.view_modelversion", "registry.view_dataset",
    "registry.view_datasetversion", "audit.view_auditentry", "audit.view_checkpoint",
    "audit.view_verificationrun",
]

PERMISSIONS: dict[str, list[str]] = {
    MODEL_DEVELOPER: _VIEW_ALL + [
        "registry.add_registeredmodel", "registry.add_modelversion", "registry.add_dataset",
        "registry.add_datasetversion", "reports.add_report", "governance.add_promotionrequest",
    ],
    MODEL_VALIDATOR: [*_VIEW_ALL, "reports.add_report"],
    RISK_OFFICER: list(_VIEW_ALL),
    COMPLIANCE_OFFICER: list(_VIEW_ALL),
    AUDITOR: list(_VIEW_ALL),
    GOVERNANCE_ADMIN: _VIEW_ALL + [
        "registry.add_registeredmodel", "registry.change_registeredmodel", "registry.delete_registeredmodel",
        "registry.add_dataset", "registry.change_dataset", "registry.add_datasetversion",
        "registry.change_datasetversion", "auth.view_user", "auth.change_user", "auth.view_group",
        "auth.change_group", "governance.change_apitoken", "governance.view_apitoken",
        "governance.add_policy", "governance.change_policy",
    ],
}


def extra_permissions(role: str) -> list[str]:
    """Permissions added by later parts of the app (policies, requests, reports), by role."""
    from django.apps import apps

    extra: list[str] = []
    for config in apps.get_app_configs():
        contribute = getattr(config, "role_permissions", None)
        if contribute:
            extra += contribute().get(role, [])
    return extra


def ensure_roles(using: str = "default", **kwargs: Any) -> None:
    """Create the role groups and grant their permissions; safe to run again."""
    from django.contrib.auth.models import Group, Permission

    from audit.context import audit_context, system_actor

    with audit_context(actor=system_actor("role setup"), channel="system"):
        for role in ALL_ROLES:
            group, _ = Group.objects.using(using).get_or_create(name=role)
            wanted = set(PERMISSIONS[role]) | set(extra_permissions(role))
            perms = []
            for dotted in sorted(wanted):
                app_label, codename = dotted.split(".", 1)
                perm = Permission.objects.using(using).filter(
                    content_type__app_label=app_label, codename=codename
                ).first()
                if perm is not None:
                    perms.append(perm)
            have = set(group.permissions.values_list("pk", flat=True))
            missing = [p for p in perms if p.pk not in have]
            if missing:
                group.permissions.add(*missing)
