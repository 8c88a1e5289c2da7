"""The record of each model's owners and developers over time, built for existing models from the audit log.

The log holds every change of a model's owner (its create and update entries) and developers (developers_set):
replayed in order they give each person's spells. Whoever the current rows name and the log does not (rows written
before the log recorded them) gets a spell from the model's registration. The spells built here have no entries
of their own: they restate entries the log already holds.
"""

import json

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _replay(entries, spells, model_id):
    """Apply one model's entries (oldest first) to its open spells {(user_id, role): started}; return closed ones."""
    closed = []
    for ts, action, changes in entries:
        if action.endswith(".delete"):
            spells.clear()
            continue
        moves = []
        owner = changes.get("owner")
        if isinstance(owner, dict):
            moves.append(("owner", [owner["old"]] if owner["old"] is not None else [],
                          [owner["new"]] if owner["new"] is not None else []))
        developers = changes.get("developers")
        if isinstance(developers, dict):
            moves.append(("developer", developers["old"] or [], developers["new"] or []))
        for role, old, new in moves:
            for user_id in set(old) - set(new):
                started = spells.pop((user_id, role), None)
                if started is not None:
                    closed.append((model_id, user_id, role, started, ts))
            for user_id in set(new) - set(old):
                spells.setdefault((user_id, role), ts)
    return closed


def build_from_log(apps, schema_editor):
    import datetime as dt

    entry_model = apps.get_model("audit", "AuditEntry")
    model_model = apps.get_model("registry", "RegisteredModel")
    spell_model = apps.get_model("registry", "ModelPersonnel")
    per_model: dict[str, list] = {}
    rows = (entry_model.objects.filter(object_type="registry.registeredmodel").order_by("seq")
            .values_list("object_id", "action", "canonical").iterator(chunk_size=2000))
    for object_id, action, canonical in rows:
        body = json.loads(bytes(canonical))
        ts = dt.datetime.fromisoformat(body["ts"].replace("Z", "+00:00"))
        per_model.setdefault(object_id, []).append((ts, action, body.get("changes") or {}))
    made = []
    for model in model_model.objects.all().iterator(chunk_size=2000):
        spells: dict[tuple, object] = {}
        closed = _replay(per_model.get(str(model.pk), []), spells, model.pk)
        made += [spell_model(model_id=m, user_id=u, role=r, started_at=s, ended_at=e) for m, u, r, s, e in closed]
        current = {(model.owner_id, "owner")} | {(u.pk, "developer") for u in model.developers.all()}
        for key in current:
            spells.setdefault(key, model.created_at)
        for (user_id, role), started in spells.items():
            # A spell the log opened that the rows no longer show: closed now, the earliest moment known.
            ended = None if (user_id, role) in current else model.updated_at
            made.append(spell_model(model_id=model.pk, user_id=user_id, role=role, started_at=started,
                                    ended_at=ended))
        if len(made) >= 2000:
            spell_model.objects.bulk_create(made)
            made = []
    spell_model.objects.bulk_create(made)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0005_datasetversion_positive_label'),
        ('audit', '0008_leaner_append'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ModelPersonnel',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('role', models.CharField(choices=[('owner', 'Owner'), ('developer', 'Developer')], max_length=10)),
                ('started_at', models.DateTimeField()),
                ('ended_at', models.DateTimeField(blank=True, null=True)),
                ('model', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='personnel', to='registry.registeredmodel')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='model_spells', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'model personnel spell',
                'ordering': ['model', 'started_at', 'id'],
                'indexes': [models.Index(fields=['user', 'model', 'ended_at'], name='personnel_user_model'), models.Index(fields=['model', 'ended_at'], name='personnel_model_open')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('ended_at__isnull', True)), fields=('model', 'user', 'role'), name='personnel_one_open_spell')],
            },
        ),
        migrations.RunPython(build_from_log, migrations.RunPython.noop),
    ]
