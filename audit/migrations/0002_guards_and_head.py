"""Install the append-only triggers and the chain head's single row."""

from django.db import migrations


def forwards(apps, schema_editor):
    from audit import db_guards

    apps.get_model("audit", "ChainHead").objects.get_or_create(pk=1)
    db_guards.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
