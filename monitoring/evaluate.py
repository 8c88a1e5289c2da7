"""Measuring a queued evaluation and carrying out what its colour triggers: amber tells the model's owner and its
validators; red, as the plan says, opens a re-validation request naming the breach or holds the model's promotions
until a validator reviews it. Each an audited service call, in one transaction with its entries.

Apart from monitoring.services so that the web processes, which queue evaluations, never import the measurements
and the libraries they load (scipy, scikit-learn, fairlearn): a worker does (monitoring.tasks)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from audit import writer
from audit.format.jcs import digest_of
from config.errors import DomainError
from governance import holds, plans
from governance.models import PromotionRequest, RequestStatus
from governance.roles import MODEL_VALIDATOR
from governance.services import promotion_request_create
from monitoring import measure, parts
from monitoring.models import Breach, Evaluation, EvaluationPart, EvaluationStatus
from monitoring.signals import part_queued
from registry.models import ModelVersion

logger = logging.getLogger(__name__)


def evaluation_run(*, evaluation_id: int) -> Evaluation:
    """Measure a queued evaluation: cut its batches into parts (monitoring.parts), send each part still queued to
    a worker (or measure it here where there is no broker), and settle it once every part is in. Safe to run
    again: a finished evaluation is returned as it is, and parts already measured are not measured again."""
    evaluation = Evaluation.objects.select_related("version", "version__model", "batch").get(pk=evaluation_id)
    if evaluation.status != EvaluationStatus.QUEUED:
        return evaluation
    try:
        made = parts.split(evaluation)
    except DomainError as exc:
        return _fail(evaluation_id, str(exc))
    except Exception as exc:  # an evaluation ends failed with a reason, never leaves a worker crashed
        logger.exception("evaluation %s could not be split", evaluation_id)
        return _fail(evaluation_id, f"the batches could not be read: {type(exc).__name__}: {exc}")
    if not made:
        return _finish(evaluation_id, measure.silence(evaluation))
    pending = [p.pk for p in made if p.status == EvaluationStatus.QUEUED]
    for part_id in pending:
        part_queued.send(sender=EvaluationPart, part_id=part_id)
    if not pending:
        settle(evaluation_id)
    return Evaluation.objects.get(pk=evaluation_id)


def evaluation_part_run(*, part_id: int) -> EvaluationPart:
    """Measure one part of an evaluation; the evaluation is settled by the part that finishes it."""
    part, ready = parts.part_run(part_id=part_id)
    if ready:
        settle(part.evaluation_id)
    return part


def settle(evaluation_id: int) -> Evaluation:
    """An evaluation whose parts are all in: failed with the first failed part's reason, or finished with their
    merged counts and what its colour triggers. Left queued while a part is."""
    evaluation = Evaluation.objects.get(pk=evaluation_id)
    if evaluation.status != EvaluationStatus.QUEUED:
        return evaluation
    made = list(evaluation.parts.select_related("batch").order_by("index"))
    failed = next((p for p in made if p.status == EvaluationStatus.FAILED), None)
    if failed is not None:
        return _fail(evaluation_id, f"part {failed.index} (rows {failed.first_row + 1} to "
                                    f"{failed.first_row + failed.rows} of batch {failed.batch.number}): {failed.error}")
    if not made or any(p.status != EvaluationStatus.SUCCEEDED for p in made):
        return evaluation
    try:
        return _finish(evaluation_id, parts.combine(evaluation, made))
    except DomainError as exc:
        return _fail(evaluation_id, str(exc))
    except Exception as exc:  # finishing too: an evaluation left queued would be settled again every hour
        logger.exception("evaluation %s could not be settled", evaluation_id)
        return _fail(evaluation_id, f"the measurement could not be made: {type(exc).__name__}: {exc}")


def _fail(evaluation_id: int, message: str) -> Evaluation:
    with writer.atomic():
        evaluation = Evaluation.objects.select_for_update().get(pk=evaluation_id)
        if evaluation.status != EvaluationStatus.QUEUED:
            return evaluation
        evaluation.status, evaluation.error, evaluation.finished_at = EvaluationStatus.FAILED, message[:2000], \
            timezone.now()
        writer.save(evaluation, action="monitoring.evaluation.fail")
    return evaluation


def findings(plan: dict[str, Any], measurements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each measurement the plan thresholds, with its colour; worst first, then by metric and subject."""
    found = []
    for m in measurements:
        bounds = plan["metrics"].get(m["metric"])
        if bounds is None:
            continue
        colour = plans.colour(m["metric"], m["value"], bounds)
        if colour is None:
            continue
        found.append({**m, "colour": colour, "amber": bounds["amber"], "red": bounds["red"]})
    order = {c: i for i, c in enumerate(reversed(plans.COLOURS))}
    return sorted(found, key=lambda f: (order[f["colour"]], f["metric"], str(f["subject"])))


def _finish(evaluation_id: int, results: dict[str, Any]) -> Evaluation:
    with writer.atomic():
        evaluation = Evaluation.objects.select_for_update().select_related("version", "version__model").get(
            pk=evaluation_id)
        if evaluation.status != EvaluationStatus.QUEUED:
            return evaluation
        plan = evaluation.plan
        rows = int(results.get("rows", 0))
        judged = findings(plan, results.get("measurements", []))
        if rows < plan["min_batch_rows"] and not results.get("silence"):
            results = {**results, "note": f"{rows} row(s), fewer than the plan's minimum of {plan['min_batch_rows']}: "
                                          "measured, not judged"}
            colour = ""
        else:
            colour = plans.worst([f["colour"] for f in judged] + [f["colour"] for f in results.get("silence", [])])
        results = {**results, "findings": judged}
        evaluation.results, evaluation.results_sha256 = results, digest_of(results)
        evaluation.rows, evaluation.labelled_rows = rows, int(results.get("labelled_rows", 0))
        evaluation.colour, evaluation.status, evaluation.finished_at = colour, EvaluationStatus.SUCCEEDED, \
            timezone.now()
        writer.save(evaluation, action="monitoring.evaluation.finish")
        if colour in ("amber", "red"):
            _breach(evaluation, [f for f in judged if f["colour"] != "green"] + results.get("silence", []))
    return evaluation


def _describe(evaluation: Evaluation, bad: list[dict[str, Any]]) -> str:
    scope = f"batch {evaluation.batch.number}" if evaluation.batch is not None else \
        f"the window {evaluation.window_start:%Y-%m-%d} to {evaluation.window_end:%Y-%m-%d}"
    worst = bad[0]
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    value = worst["value"] if not isinstance(worst["value"], float) else round(worst["value"], 4)
    return (f"monitoring evaluation #{evaluation.pk} of {scope} is {evaluation.colour}: {worst['metric']} of "
            f"{worst['subject']} = {value} (amber at {worst['amber']}, red at {worst['red']}){more}.")


def _breach(evaluation: Evaluation, bad: list[dict[str, Any]]) -> Breach:
    version = evaluation.version
    text = _describe(evaluation, bad)
    breach = Breach(evaluation=evaluation, version=version, colour=evaluation.colour, findings=bad,
                    consequence="notified")
    if evaluation.colour == "red":
        if evaluation.plan.get("on_red") == "hold":
            breach.consequence = "hold"
            breach.hold = holds.hold_open(model_id=version.model_id, reason=text)
        else:
            breach.consequence = "revalidation"
            breach.request = _revalidation(version, text)
    recipients = _recipients(version)
    breach.notified = recipients
    writer.save(breach, action="monitoring.breach.open")
    if recipients:
        subject = f"[modelgov] monitoring {evaluation.colour}: {version}"
        body = text + (f"\n\nRe-validation request #{breach.request.pk} is open." if breach.request else "") + (
            f"\n\nPromotions of {version.model.name} are on hold until a validator reviews it (hold #{breach.hold.pk})."
            if breach.hold else "")
        transaction.on_commit(lambda: send_mail(subject=subject, message=body, from_email=None,
                                                recipient_list=recipients, fail_silently=True))
    return breach


def _revalidation(version: ModelVersion, text: str) -> PromotionRequest:
    """The version's pending re-validation request, or a new one naming the breach (the existing kind, marked as
    triggered by monitoring)."""
    pending = PromotionRequest.objects.filter(version=version, target_stage=version.stage,
                                              status=RequestStatus.PENDING).first()
    if pending is not None:
        return pending
    return promotion_request_create(version=version, target_stage=version.stage, by=None, is_revalidation=True,
                                    justification=f"re-validation triggered by monitoring: {text}",
                                    trigger=text)


def _recipients(version: ModelVersion) -> list[str]:
    """The model's owner and every active validator, by e-mail."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    owner = users.filter(pk=version.model.owner_id).values_list("email", flat=True)
    validators = users.filter(groups__role__code=MODEL_VALIDATOR).values_list("email", flat=True)
    return sorted(set(owner) | set(validators))


