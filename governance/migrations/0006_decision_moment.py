"""Times and evidence at the moment of decision: each request's expiry and each approval's end of validity as
columns (every decision and the queue compare them with now), and the gates and evidence a decision was made on.

Existing rows get the dates their frozen rules give (the same reading as governance.policies.duration); decided
requests keep empty gates and evidence, which the pages show as "not recorded at the decision".
"""

import datetime as dt

from django.db import migrations, models

_DEFAULTS = {"approval_valid_hours": ("hours", 168), "request_ttl_days": ("days", 30)}
_MOST = {"hours": 24 * 3650, "days": 3650}


def _duration(rule, key):
    unit, default = _DEFAULTS[key]
    try:
        amount = int((rule or {}).get(key, default))
    except (TypeError, ValueError, OverflowError):
        amount = default
    return dt.timedelta(**{unit: min(max(amount, 1), _MOST[unit])})


def fill_dates(apps, schema_editor):
    request_model = apps.get_model("governance", "PromotionRequest")
    approval_model = apps.get_model("governance", "Approval")
    batch = []
    for request in request_model.objects.only("created_at", "policy_rule").iterator(chunk_size=2000):
        request.expires_at = request.created_at + _duration(request.policy_rule, "request_ttl_days")
        batch.append(request)
        if len(batch) >= 2000:
            request_model.objects.bulk_update(batch, ["expires_at"])
            batch = []
    request_model.objects.bulk_update(batch, ["expires_at"])
    batch = []
    for approval in approval_model.objects.select_related("request").only(
            "created_at", "request__policy_rule").iterator(chunk_size=2000):
        approval.valid_until = approval.created_at + _duration(approval.request.policy_rule, "approval_valid_hours")
        batch.append(approval)
        if len(batch) >= 2000:
            approval_model.objects.bulk_update(batch, ["valid_until"])
            batch = []
    approval_model.objects.bulk_update(batch, ["valid_until"])


class Migration(migrations.Migration):
    dependencies = [("governance", "0005_policy_one_active")]

    operations = [
        migrations.AddField("promotionrequest", "expires_at", models.DateTimeField(null=True)),
        migrations.AddField("approval", "valid_until", models.DateTimeField(null=True)),
        migrations.AddField("promotionrequest", "decision_gates", models.JSONField(blank=True, default=list)),
        migrations.AddField("promotionrequest", "decision_evidence", models.JSONField(blank=True, default=dict)),
        migrations.RunPython(fill_dates, migrations.RunPython.noop),
        migrations.AlterField("promotionrequest", "expires_at", models.DateTimeField()),
        migrations.AlterField("approval", "valid_until", models.DateTimeField()),
    ]
