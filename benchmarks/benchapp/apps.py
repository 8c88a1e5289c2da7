"""A benchmark-only app."""

from django.apps import AppConfig


class BenchappConfig(AppConfig):
    name = "benchmarks.benchapp"
    label = "benchapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from benchmarks.benchapp.models import AuditlogThing

        auditlog.register(AuditlogThing)
