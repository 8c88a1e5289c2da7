"""Reading evaluations as the log recorded them: what a reader is shown of an evaluation (its results, their digest,
its colour) is refused, not shown, once it differs from what its entries bound."""

from __future__ import annotations

from audit.format.jcs import digest_of
from audit.reconcile import logged_value
from config.errors import Conflict
from monitoring.models import Evaluation


def require_as_logged(evaluation: Evaluation) -> None:
    """Refuse an evaluation whose results no longer hash to their digest, or whose digest or colour is not the one
    its entries recorded: a row changed behind the log's back (`manage.py audit verify` names it)."""
    results = evaluation.results or {}
    digest = evaluation.results_sha256
    bound = digest_of(results) == digest if digest else not results
    if bound:
        for field in ("results_sha256", "colour"):
            if (logged_value("monitoring.evaluation", evaluation.pk, field) or "") != getattr(evaluation, field):
                bound = False
                break
    if not bound:
        raise Conflict(f"evaluation #{evaluation.pk} no longer holds the results and colour its entries recorded: it "
                       "was changed behind the log's back (`manage.py audit verify` names the change)",
                       rule="evaluation.tampered")
