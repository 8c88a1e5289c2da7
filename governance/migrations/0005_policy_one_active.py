"""At most one policy in force: refused, not repaired, where an earlier race left more than one."""

from typing import Any

from django.core.management.base import CommandError
from django.db import migrations, models


def refuse_more_than_one_active(apps: Any, schema_editor: Any) -> None:
    # Choosing the policy that governs is a governance decision with its audit entries, so this migration
    # leaves it to a governance admin rather than picking one.
    policy = apps.get_model("governance", "Policy")
    active = sorted(policy.objects.filter(is_active=True).values_list("name", flat=True))
    if len(active) > 1:
        raise CommandError(
            f"{len(active)} policies are in force ({', '.join(active)}); at most one may be. A governance admin "
            "must put the intended one in force (admin action 'Make the selected policy the one in force', or "
            "POST /api/v1/policies/{id}/activate/), which takes the others out of force with audit entries; "
            "where the release installed already knows roles by code (their table comes after this migration), "
            "an operator does it from `manage.py shell`: governance.services.policy_activate(policy=..., by=None). "
            "Then run migrate again."
        )


class Migration(migrations.Migration):

    dependencies = [
        ("governance", "0004_promotionrequest_created_index"),
    ]

    operations = [
        migrations.RunPython(refuse_more_than_one_active, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="policy",
            constraint=models.UniqueConstraint(condition=models.Q(("is_active", True)), fields=("is_active",),
                                               name="policy_one_active"),
        ),
    ]
