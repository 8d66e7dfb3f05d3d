from django.apps import AppConfig
from django.db.models.signals import post_migrate


def codecs_record(sender: AppConfig, using: str = "default", **kwargs) -> None:
    """Keep a row per built-in codec, with its dictionary, so every stored unit names a codec the
    database itself can decode with, whatever version of this code reads it later."""
    from .models import RawCodec
    from .store.codec import BUILTIN

    for codec in BUILTIN.values():
        RawCodec.objects.using(using).update_or_create(
            id=codec.id, defaults={"name": f"{codec.name}@{codec.level}", "dictionary": codec.dictionary}
        )


class TelemetryConfig(AppConfig):
    name = "telemetry"

    def ready(self) -> None:
        # Every Django process (fast path, web, commands) sends tasks: shared_task must find our app,
        # not Celery's default (blueplane/__init__.py says why it is loaded here).
        import blueplane.celery  # noqa: F401

        post_migrate.connect(codecs_record, sender=self)
