"""The roles of model risk management: their codes, labels and Django permissions, and who may hold which.

A role is known by its code, which never changes. The Django group bound to it (governance.models.Role) carries
its members and permissions, and its name is the role's label: shown to people, read by no check, and fixed
(a role's group cannot be renamed, so a list of groups never misleads whoever grants them).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import connections

from audit import writer
from audit.context import audit_context, system_actor
from governance.models import Role

MODEL_DEVELOPER = "model_developer"
MODEL_VALIDATOR = "model_validator"
RISK_OFFICER = "risk_officer"
COMPLIANCE_OFFICER = "compliance_officer"
AUDITOR = "auditor"
GOVERNANCE_ADMIN = "governance_admin"

# The label each role's group is created with (the names roles had when they were known by name).
LABELS = {
    MODEL_DEVELOPER: "model developer",
    MODEL_VALIDATOR: "model validator",
    RISK_OFFICER: "risk officer",
    COMPLIANCE_OFFICER: "compliance officer",
    AUDITOR: "auditor",
    GOVERNANCE_ADMIN: "governance admin",
}
ALL_ROLES = tuple(LABELS)
# The role that fills an approval slot, by the slot's key in a policy.
APPROVER_ROLES = {
    "validator": MODEL_VALIDATOR,
    "risk_officer": RISK_OFFICER,
    "compliance_officer": COMPLIANCE_OFFICER,
}
# What a CI pipeline's account may hold: register and gather evidence, read. Never a role that decides or
# that grants roles (a service account acting for its owner would be the owner granting themselves).
SERVICE_ACCOUNT_ROLES = frozenset({MODEL_DEVELOPER, AUDITOR})

_VIEW_ALL = [
    "governance.view_policy", "governance.view_promotionrequest", "governance.view_approval",
    "reports.view_report", "registry.view_registeredmodel", "registry.view_modelversion", "registry.view_dataset",
    "registry.view_datasetversion", "audit.view_auditentry", "audit.view_checkpoint",
    "audit.view_verificationrun", "governance.view_promotionhold", "monitoring.view_batch",
    "monitoring.view_outcomes", "monitoring.view_evaluation", "monitoring.view_evaluationpart",
    "monitoring.view_breach", "monitoring.view_monitoringreport",
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
        "governance.add_policy", "governance.change_policy", "governance.view_role",
        "governance.view_serviceaccount",
    ],
}


def ensure_roles(using: str = "default", **kwargs: Any) -> None:
    """Create each role, its group and its permissions; safe to run again. A role missing its row (a new
    installation, or one from before roles had codes) is bound to the group bearing its label, created if
    need be, with an entry saying which group it was bound to."""
    if Role._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated back to before roles had codes: nothing to bind them to
    with audit_context(actor=system_actor("role setup"), channel="system"):
        for code in ALL_ROLES:
            role = Role.objects.using(using).select_related("group").filter(code=code).first()
            if role is None:
                with writer.atomic():
                    group, _ = Group.objects.using(using).get_or_create(name=LABELS[code])
                    role = Role(code=code, group=group)
                    writer.save(role, action="governance.role.create",
                                extra_changes={"label": {"old": None, "new": group.name}})
            group = role.group
            perms = []
            for dotted in sorted(PERMISSIONS[code]):
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
