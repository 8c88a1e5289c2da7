"""App config for monitoring."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from governance import roles
        from monitoring import tasks
        from monitoring.signals import evaluation_queued, part_queued, report_queued

        evaluation_queued.connect(tasks.on_evaluation_queued, dispatch_uid="monitoring-dispatch")
        part_queued.connect(tasks.on_part_queued, dispatch_uid="monitoring-part-dispatch")
        report_queued.connect(tasks.on_report_queued, dispatch_uid="monitoring-report-dispatch")
        # The roles' permissions on this app's models exist only once its own migrate has run, after governance's:
        # the roles are granted them then (governance.roles.ensure_roles adds only what a role lacks).
        post_migrate.connect(lambda **kw: roles.ensure_roles(kw.get("using", "default")), sender=self, weak=False,
                             dispatch_uid="monitoring-roles")
