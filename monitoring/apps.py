"""App config for monitoring."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from monitoring import tasks
        from monitoring.signals import evaluation_queued, report_queued

        evaluation_queued.connect(tasks.on_evaluation_queued, dispatch_uid="monitoring-dispatch")
        report_queued.connect(tasks.on_report_queued, dispatch_uid="monitoring-report-dispatch")
