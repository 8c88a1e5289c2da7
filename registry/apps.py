"""App config for the model registry."""

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Model registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registry.sandbox.runner import trusted_types
        from registry.services import personnel

        personnel.connect()
        trusted_types()  # an extra trusted type that is code stops the server at start, not a registration later
