"""Extend the append-only triggers to the signing keys table."""

from django.db import migrations


def forwards(apps, schema_editor):
    from audit import db_guards

    db_guards.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_signing_key")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
