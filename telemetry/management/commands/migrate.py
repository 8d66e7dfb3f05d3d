"""Django's `migrate`, one at a time across hosts sharing a PostgreSQL database (store/schema.py)."""

from django.core.management.commands import migrate

from telemetry.store.schema import migrate_lock


class Command(migrate.Command):
    def handle(self, *args, **options) -> None:
        with migrate_lock(database=options["database"]):
            super().handle(*args, **options)
