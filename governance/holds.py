"""Holds on a model's promotions (a red monitoring breach whose plan says "hold"): opened by the monitoring
service, released by a validator's recorded review. While one is open no promotion request of the model is made
and none completes (governance.gates names it)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from audit import writer
from config.errors import Conflict, InvalidInput
from governance import rules
from governance.decisions import clean_text
from governance.models import PromotionHold
from registry.services.personnel import lock_model


def open_hold(model_id: int) -> PromotionHold | None:
    return PromotionHold.objects.filter(model_id=model_id, released_at__isnull=True).order_by("opened_at").first()


def require_no_hold(model_id: int) -> None:
    hold = open_hold(model_id)
    if hold is not None:
        raise Conflict(f"promotions of this model are on hold since {hold.opened_at:%Y-%m-%d %H:%M} UTC: "
                       f"{hold.reason} A validator must review the breach first (hold #{hold.pk}).",
                       rule="monitoring.hold")


def hold_open(*, model_id: int, reason: str) -> PromotionHold:
    """Hold the model's promotions (one open hold at a time: a second breach while held adds nothing)."""
    with writer.atomic():
        lock_model(model_id)
        existing = open_hold(model_id)
        if existing is not None:
            return existing
        hold = PromotionHold(model_id=model_id, reason=clean_text(reason, "reason")[:2000])
        writer.save(hold, action="governance.hold.open")
    return hold


def hold_release(*, hold: PromotionHold, by: Any, review: str) -> PromotionHold:
    review = clean_text(review, "review")
    if not review:
        raise InvalidInput("a review is required: say what the breach was and why promotions may resume")
    rules.require_may_review_breach(by, hold.model_id)
    with writer.atomic():
        lock_model(hold.model_id)
        hold = PromotionHold.objects.select_for_update().get(pk=hold.pk)
        if hold.released_at is not None:
            raise Conflict(f"hold #{hold.pk} was released on {hold.released_at:%Y-%m-%d %H:%M} UTC",
                           rule="hold.released")
        hold.released_at, hold.released_by, hold.review = timezone.now(), by, review
        writer.save(hold, action="governance.hold.release")
    return hold
