"""Queueing evaluations of production rows under the plan in force: one per batch and per outcomes upload, and the
plans' schedule (windows on each cadence, versions monitoring has not heard from). What an evaluation finds and
triggers is monitoring.evaluate's, run by a worker."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from audit import writer
from governance import plans
from governance.services import active_policy_or_none
from monitoring.baseline import baseline_of
from monitoring.models import Batch, Evaluation, EvaluationStatus
from monitoring.signals import evaluation_queued
from registry.models import ModelVersion, Stage

MONITORED = (Stage.PRODUCTION, Stage.STAGING)
# An evaluation still queued this long after it was queued was lost on its way (a broker outage, a worker lost
# mid-task): the schedule sends it again. Sending one twice is harmless (monitoring.evaluate.evaluation_run).
RESEND_AFTER = dt.timedelta(minutes=15)


def plan_for(version: ModelVersion) -> dict[str, Any]:
    """The plan of the policy in force for the version's stage and its model's tier (the default plan if none is)."""
    policy = active_policy_or_none()
    stage = version.stage if version.stage in MONITORED else Stage.PRODUCTION
    rule = policy.rules.get(stage, {}).get(version.model.risk_tier, {}) if policy is not None else {}
    return plans.plan_of(rule)


def evaluation_queue(*, version: ModelVersion, batch: Batch | None = None,
                     window: tuple[dt.datetime, dt.datetime] | None = None) -> Evaluation:
    """Queue the measurement of one batch or of a window of batches, with the plan and baseline frozen now; it
    is measured after commit (by a worker where a broker is configured, in this process otherwise)."""
    if batch is None and window is None:
        raise ValueError("an evaluation is of a batch or of a window")
    start, end = (batch.created_at, batch.created_at) if batch is not None else window  # type: ignore[misc]
    evaluation = Evaluation(version=version, batch=batch, window_start=start, window_end=end,
                            plan=plan_for(version), baseline=baseline_of(version))
    with writer.atomic():
        writer.save(evaluation, action="monitoring.evaluation.queue")
        transaction.on_commit(lambda: evaluation_queued.send(sender=Evaluation, evaluation_id=evaluation.pk))
    return evaluation


def evaluations_due(*, now: dt.datetime | None = None) -> list[Evaluation]:
    """The scheduled part of each plan: for every monitored version, a window evaluation of its latest batches once
    per cadence, and an amber finding where no batch has come for longer than the plan allows."""
    now = now or timezone.now()
    queued = []
    for pk in ModelVersion.objects.filter(stage__in=MONITORED).order_by("pk").values_list("pk", flat=True):
        with writer.atomic():
            # The version's row, locked: two schedulers at once take turns, and the second finds the first's window.
            version = ModelVersion.objects.select_for_update(of=("self",)).select_related("model").get(pk=pk)
            found = _due(version, now)
        if found is not None:
            queued.append(found)
    return queued


def _due(version: ModelVersion, now: dt.datetime) -> Evaluation | None:
    """The evaluation the plan's schedule asks of a locked version now, queued; None if none is due."""
    if version.stage not in MONITORED:
        return None
    plan = plan_for(version)
    last = Evaluation.objects.filter(version=version, batch__isnull=True).order_by("-created_at").first()
    if last is not None and now - last.created_at < dt.timedelta(days=plan["cadence_days"]):
        return None
    since = version.stage_changed_at or version.created_at
    latest = Batch.objects.filter(version=version).order_by("-created_at").first()
    heard = latest.created_at if latest is not None else since
    if latest is None and version.stage != Stage.PRODUCTION:
        return None
    start = now - dt.timedelta(days=plan["window_days"])
    if latest is None or heard < start:
        silent = (now - heard).days
        return evaluation_queue(version=version, window=(heard, now)) if silent > plan["max_silence_days"] \
            else None
    return evaluation_queue(version=version, window=(start, now))


def evaluations_resend(*, now: dt.datetime | None = None) -> list[int]:
    """Send again every evaluation queued for longer than RESEND_AFTER, none of whose parts finished within it;
    their ids."""
    since = (now or timezone.now()) - RESEND_AFTER
    # One whose parts are still coming in is not lost: only one with no part finished since is sent again.
    stale = list(Evaluation.objects.filter(status=EvaluationStatus.QUEUED, created_at__lt=since)
                 .annotate(latest=Max("parts__finished_at")).filter(Q(latest__isnull=True) | Q(latest__lt=since))
                 .order_by("pk").values_list("pk", flat=True))
    for pk in stale:
        evaluation_queued.send(sender=Evaluation, evaluation_id=pk)
    return stale
