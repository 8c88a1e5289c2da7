"""App config for reports."""

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reports import tasks
        from reports.signals import report_queued

        # The services announce a queued report; the task channel sends it to a worker (reports/signals.py).
        report_queued.connect(tasks.on_report_queued, dispatch_uid="reports-dispatch")
