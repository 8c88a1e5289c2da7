"""App config for governance: roles, policies, promotion requests, approvals, gates."""

from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from governance import decisions, memberships, roles, services, slots, stage_guard
        from governance.schema import TokenScheme
        from registry.signals import model_personnel_joined
        from reports.signals import report_succeeded

        del TokenScheme  # importing it registers the OpenAPI description of token authentication
        memberships.connect()
        # The queue's table of open slots, derived in the transaction of every save of a request or an approval.
        slots.connect()
        # Changes below governance that move a pending request: reacted to inside their own transactions.
        model_personnel_joined.connect(decisions.on_personnel_joined, dispatch_uid="governance-personnel-joined")
        report_succeeded.connect(decisions.on_report_succeeded, dispatch_uid="governance-report-succeeded")

        # After every migrate (and every test flush): permissions exist only after migrate,
        # so roles are granted here rather than in a data migration alone.
        post_migrate.connect(
            lambda **kw: roles.ensure_roles(kw.get("using", "default")),
            sender=self,
            weak=False,
            dispatch_uid="governance-roles",
        )
        stage_guard.connect(self)  # PostgreSQL: a stage moves only with a request's approval in its transaction
        post_migrate.connect(
            lambda **kw: services.ensure_default_policy(),
            sender=self,
            weak=False,
            dispatch_uid="governance-default-policy",
        )
