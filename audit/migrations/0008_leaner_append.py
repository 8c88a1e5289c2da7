"""A cheaper append: no index on the entry hash, request ids indexed only where set, Merkle nodes
stored from level 4 up, and the PostgreSQL function taking its rows as one JSON text."""

from django.db import migrations, models


def forwards(apps, schema_editor):
    from audit import db_guards, pg_append

    # SQLite rebuilds the entry table to drop the unique constraint, and its triggers with it.
    db_guards.install(schema_editor.connection)
    pg_append.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_pg_append_constraints_first")]

    operations = [
        migrations.RemoveIndex(model_name="auditentry", name="audit_request"),
        migrations.AlterField(model_name="auditentry", name="hash", field=models.CharField(max_length=64)),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(
                condition=models.Q(("request_id", ""), _negated=True), fields=["request_id"], name="audit_request_set"
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
