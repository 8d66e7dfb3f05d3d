from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"

    def ready(self) -> None:
        from .v1 import schema_auth  # noqa: F401  (registers the schema's description of access)
