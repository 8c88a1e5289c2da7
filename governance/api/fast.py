"""Promotion request list pages built from plain rows: byte for byte what `RequestOut(many=True)` writes,
without a model instance per request, version, model, approval and user, nor DRF's nested serializers.

The rows are read with `values_list` and the approvals with one query in the order the `approvals` prefetch
gave them (the approvals' default ordering). Each request carries its frozen policy rule, and a page holds few
distinct ones (rules are frozen from a handful of policy versions): the rule is read as its JSON text and each
distinct text decoded once per page. `RequestOut` stays the schema and the single-request output;
tests/test_api_fast_paths.py holds the two to the same output.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import ExpressionWrapper, F, QuerySet, TextField

from config.api import datetime_out
from governance.models import Approval, PromotionRequest

# The columns of a request row, in the order `requests_out` unpacks them; the policy rule comes as its JSON text.
REQUEST_COLUMNS = (
    "id", "version_id", "version__model__name", "version__version", "target_stage", "justification",
    "requested_by__username", "status", "is_revalidation", "policy_name", "policy_version", "policy_rule",
    "policy_sha256", "created_at", "decided_at",
)
_RULE = REQUEST_COLUMNS.index("policy_rule")
# The column as stored, with no conversion (not a CAST: SQLite would turn a blob into other text than the field reads).
_RULE_TEXT = ExpressionWrapper(F("policy_rule"), output_field=TextField())

_APPROVAL_COLUMNS = (
    "request_id", "id", "approver__username", "role", "decision", "comment", "artifact_sha256", "evidence_digests",
    "created_at", "lapsed_at", "lapse_reason",
)


def request_rows(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The requests of `queryset` (filtered and ordered) as tuples of REQUEST_COLUMNS."""
    columns: list[Any] = list(REQUEST_COLUMNS)
    columns[_RULE] = _RULE_TEXT
    return queryset.prefetch_related(None).values_list(*columns)


def _approvals(request_ids: Sequence[int], when: Any) -> dict[int, list[dict[str, Any]]]:
    """ApprovalOut output of each request's approvals, in the `approvals` prefetch's order."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if request_ids:
        rows = Approval.objects.filter(request__in=request_ids).values_list(*_APPROVAL_COLUMNS)
        for (request_id, pk, approver, role, decision, comment, sha256, digests, created, lapsed,
             reason) in rows:
            out[request_id].append({
                "id": pk, "approver": approver, "role": role, "decision": decision, "comment": comment,
                "artifact_sha256": sha256, "evidence_digests": digests, "created_at": when(created),
                "lapsed_at": when(lapsed), "lapse_reason": reason,
            })
    return out


def requests_out(rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """RequestOut(many=True).data for rows of REQUEST_COLUMNS."""
    when = datetime_out()
    approvals = _approvals([row[0] for row in rows], when)
    rules: dict[str, Any] = {}  # each distinct rule's text, decoded once; its dict is shared by the rows holding it
    # Decoded as the field decodes it: text SQLite's json_valid accepts and Python's json does not (a trailing NUL)
    # comes back as the text, as the serializer writes it, rather than failing the page.
    decode = PromotionRequest._meta.get_field("policy_rule").from_db_value

    def rule(text: str) -> Any:
        if text not in rules:
            rules[text] = decode(text, _RULE_TEXT, connection)
        return rules[text]

    return [
        {
            "id": pk, "version": version, "model": model, "version_number": number, "target_stage": target,
            "justification": justification, "requested_by": requested_by, "status": status,
            "is_revalidation": bool(revalidation), "policy_name": policy_name, "policy_version": policy_version,
            "policy_rule": rule(policy_rule), "policy_sha256": policy_sha256, "approvals": approvals.get(pk, []),
            "created_at": when(created), "decided_at": when(decided),
        }
        for (pk, version, model, number, target, justification, requested_by, status, revalidation, policy_name,
             policy_version, policy_rule, policy_sha256, created, decided) in rows
    ]
