"""App config for the audit log."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from audit import auth_events, bootstrap, governed, row_guards

        auth_events.connect()
        governed.connect()
        connection_created.connect(row_guards.register_sqlite_function, dispatch_uid="audit-row-guards-sqlite")
        post_migrate.connect(
            bootstrap.after_migrate,
            sender=self,
            weak=False,
            dispatch_uid="audit-chain-head",
        )
