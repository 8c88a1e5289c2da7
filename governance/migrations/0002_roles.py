"""Create the role groups; their permissions are granted after migrate by governance.roles."""

from django.db import migrations

ROLES = (
    "model developer", "model validator", "risk officer", "compliance officer", "auditor", "governance admin",
)


def forwards(apps, schema_editor):
    group = apps.get_model("auth", "Group")
    for name in ROLES:
        group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
