"""Reinstall the PostgreSQL append function: deferred foreign-key checks now run before the head is locked."""

from django.db import migrations


def forwards(apps, schema_editor):
    from audit import pg_append

    pg_append.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_pg_append_function")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
