"""Record the built-in codecs and their dictionaries in the database, so stored units stay readable
even by code that no longer ships the dictionary file."""

from django.db import migrations


def codecs_record(apps, schema_editor):
    from telemetry.ingest.codec import BUILTIN

    RawCodec = apps.get_model("telemetry", "RawCodec")
    for codec in BUILTIN.values():
        RawCodec.objects.update_or_create(
            id=codec.id, defaults={"name": f"{codec.name}@{codec.level}", "dictionary": codec.dictionary}
        )


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0001_raw_store")]
    operations = [migrations.RunPython(codecs_record, migrations.RunPython.noop)]
