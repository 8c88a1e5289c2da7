"""A GIN index for the API's tag filter (`tags @> '["x"]'`), which otherwise scans every model.

PostgreSQL only: SQLite matches tags as text and has no such index.
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS regmodel_tags_gin ON registry_registeredmodel USING gin (tags jsonb_path_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS regmodel_tags_gin")


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
