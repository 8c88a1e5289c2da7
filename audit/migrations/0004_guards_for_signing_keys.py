"""Extend the append-only triggers to the signing keys table."""

from django.db import migrations

from audit.migrations import _append_only_v1


def forwards(apps, schema_editor):
    _append_only_v1.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_signing_key")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
