"""Install the PostgreSQL append function (a no-op on SQLite, which appends from Python)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from audit import pg_append

    pg_append.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_chain_head_frontier")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
