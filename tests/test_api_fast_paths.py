"""The list pages built from plain rows write exactly what the DRF serializers write for the same objects,
and an update after a lazily snapshotted load still records the right old values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from audit import db_guards
from audit.context import audit_context, system_actor
from audit.models import AuditEntry
from governance import selectors as governance_selectors
from governance.api import fast as governance_fast
from governance.api.serializers import RequestOut
from governance.models import Approval, PromotionRequest
from registry import selectors as registry_selectors
from registry.api import fast as registry_fast
from registry.api.serializers import ModelOut, VersionOut
from registry.models import ModelVersion, RegisteredModel
from tests.factories import csv_bytes, make_dataset_version, make_model, make_version
from tests.governance.helpers import full_evidence

pytestmark = pytest.mark.django_db


def _json(data: Any) -> bytes:
    return JSONRenderer().render(data)


@pytest.fixture
def world(make_user: Any) -> dict[str, Any]:
    """Models with and without developers and tags, versions with and without parents and datasets,
    requests with no, one and several approvals (one lapsed), one without a requester, two under the same rule."""
    from audit import writer
    from governance.services import approval_record, promotion_request_create

    owner = make_user("owner", "model developer")
    dev = make_user("dev2", "model developer")
    validator = make_user("v1", "model validator")
    risk = make_user("r1", "risk officer")
    train = make_dataset_version(owner, "train")
    train2 = make_dataset_version(owner, "train", content=csv_bytes(12))
    holdout = make_dataset_version(owner, "holdout")
    bare = make_model(owner, "bare")
    rich = make_model(owner, "rich", developers=[dev, owner], tags=["fraud", "émoji-✓"], description="d\u2028x",
                      business_unit="credit", risk_tier="high")
    make_version(bare, owner)
    parent = make_version(rich, owner, training_datasets=[train, train2], evaluation_datasets=[holdout],
                          hyperparameters={"C": 1.5, "nested": {"a": [1, None]}}, metrics={"auc": 0.8})
    child = make_version(rich, dev, parent=parent, training_datasets=[train2], description="child",
                         packages={"sklearn": "1.5"})
    full_evidence(child)  # an approval needs the evidence the rule requires
    first = promotion_request_create(version=child, target_stage="staging", justification="go", by=dev)
    approval_record(request=first, by=validator, role="validator", decision="approve", comment="fine")
    promotion_request_create(version=parent, target_stage="production", justification="prod", by=owner)
    promotion_request_create(version=make_version(rich, owner), target_stage="staging", justification="again", by=owner)
    other = make_model(owner, "other", developers=[owner], risk_tier="critical")
    orphan = make_version(other, owner)
    with audit_context(actor=system_actor("test"), channel="system"):  # asked by no one: requested_by NULL
        lonely = promotion_request_create(version=orphan, target_stage="staging", justification="x", by=None)
    approval_record(request=lonely, by=risk, role="risk_officer", decision="reject", comment="no")
    with audit_context(actor=system_actor("test"), channel="system"):
        lapsed = Approval.objects.filter(request=lonely).first()
        assert lapsed is not None
        lapsed.lapsed_at = timezone.now()
        lapsed.lapse_reason = "artifact changed"
        writer.save(lapsed)
    return {"owner": owner, "validator": validator}


def _querysets_of_models() -> list[Any]:
    base = registry_selectors.model_list().order_by("name")
    return [base, base.filter(risk_tier="high"), base.filter(name="nope")]


def _querysets_of_versions() -> list[Any]:
    base = registry_selectors.version_list()
    return [base.order_by("-id"), base.filter(model__name="rich").order_by("-version"), base.filter(stage="x")]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_models_from_rows_equal_the_serializer(world: dict[str, Any], zone: str) -> None:
    with timezone.override(zone):
        for qs in _querysets_of_models():
            fast = registry_fast.models_out(list(registry_fast.model_rows(qs)))
            assert _json(fast) == _json(ModelOut(qs, many=True).data)
    assert RegisteredModel.objects.filter(developers__isnull=False).exists()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_versions_from_rows_equal_the_serializer(world: dict[str, Any], zone: str) -> None:
    with timezone.override(zone):
        for qs in _querysets_of_versions():
            fast = registry_fast.versions_out(list(registry_fast.version_rows(qs)))
            assert _json(fast) == _json(VersionOut(qs, many=True).data)
    assert ModelVersion.objects.filter(parent__isnull=False).exists()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_requests_from_rows_equal_the_serializer(world: dict[str, Any], zone: str) -> None:
    base = governance_selectors.request_list()
    querysets = [base.order_by("-created_at", "-id"), base.filter(status="pending").order_by("-created_at", "-id"),
                 governance_selectors.awaiting(world["validator"])]
    with timezone.override(zone):
        for qs in querysets:
            fast = governance_fast.requests_out(list(governance_fast.request_rows(qs)))
            assert _json(fast) == _json(RequestOut(qs, many=True).data)
    # The rows' rules are decoded once per distinct text: the page holds rules that differ and rules that repeat.
    rules = [json.dumps(r, sort_keys=True) for r in PromotionRequest.objects.values_list("policy_rule", flat=True)]
    assert 1 < len(set(rules)) < len(rules)
    assert PromotionRequest.objects.filter(requested_by__isnull=True).exists()
    assert Approval.objects.filter(lapsed_at__isnull=False).exists()


def test_list_pages_are_the_serializers_pages(api: Any, world: dict[str, Any]) -> None:
    """Through the API: the results of each list are the serializer's output for the same page."""
    api.force_authenticate(world["owner"])
    cases = [
        ("/api/v1/models/?limit=2&offset=1", ModelOut, registry_selectors.model_list().order_by("name")[1:3]),
        ("/api/v1/versions/", VersionOut, registry_selectors.version_list().order_by("-id")),
        ("/api/v1/models/rich/versions/", VersionOut,
         registry_selectors.version_list().filter(model__name="rich").order_by("-version")),
        ("/api/v1/promotion-requests/", RequestOut,
         governance_selectors.request_list().order_by("-created_at", "-id")),
    ]
    for url, serializer, qs in cases:
        response = api.get(url)
        assert response.status_code == 200, url
        body = response.content
        assert _json(serializer(qs, many=True).data)[1:-1] in body, url


def test_update_after_a_lazy_snapshot_records_the_old_values(world: dict[str, Any]) -> None:
    """Loaded rows take their audit snapshot only when asked; an edit still records what was loaded."""
    from audit import writer

    with audit_context(actor=system_actor("test"), channel="system"):
        model = RegisteredModel.objects.get(name="rich")
        assert "_audit_snapshot" not in model.__dict__  # not taken at load
        model.description = "changed"
        model.tags = ["other"]
        model.risk_tier = "low"
        writer.save(model)
        version = ModelVersion.objects.only("id", "description", "stage").get(model__name="bare")
        version.description = "edited"
        writer.save(version)
        model.title = "Renamed"
        writer.save(model)  # a second save diffs against what the first one saved
    entries = list(AuditEntry.objects.order_by("-seq")[:3])
    renamed, edited, changed = (e.as_json()["changes"] for e in entries)
    assert changed == {"description": {"old": "d\u2028x", "new": "changed"},
                       "risk_tier": {"old": "high", "new": "low"},
                       "tags": {"old": ["fraud", "émoji-✓"], "new": ["other"]}}
    assert edited == {"description": {"old": "", "new": "edited"}}
    assert renamed == {"title": {"old": "Rich", "new": "Renamed"}}


def test_unchanged_save_after_a_lazy_snapshot_records_nothing(world: dict[str, Any]) -> None:
    from audit import writer

    with audit_context(actor=system_actor("test"), channel="system"):
        before = AuditEntry.objects.count()
        version = ModelVersion.objects.get(model__name="bare")
        assert writer.save(version) is None
    assert AuditEntry.objects.count() == before


def test_audit_pages_are_entry_out(api: Any, world: dict[str, Any]) -> None:
    """The audit list and one object's history, read as rows, are EntryOut's output, cursor links included."""
    from audit.api.views import EntryOut

    api.force_authenticate(world["owner"])
    model = RegisteredModel.objects.get(name="rich")
    response = api.get("/api/v1/audit/entries/?page_size=3")
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == EntryOut(AuditEntry.objects.order_by("-seq")[:3], many=True).data
    assert body["next"]
    assert api.get(body["next"]).json()["results"] == EntryOut(AuditEntry.objects.order_by("-seq")[3:6],
                                                                many=True).data
    history = api.get(f"/api/v1/audit/entries/history/registry.registeredmodel/{model.pk}/").json()["results"]
    expected = AuditEntry.objects.filter(object_type="registry.registeredmodel", object_id=str(model.pk))
    assert history == EntryOut(expected.order_by("-seq"), many=True).data
    assert history


def _set_rule(pk: int, text: str) -> None:
    """Write a rule's text as a database user could, past the row guards."""
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with db_guards.suspended(connection), connection.cursor() as cursor:
        cursor.execute(f"UPDATE governance_promotionrequest SET policy_rule = %s{cast} WHERE id = %s", [text, pk])


_ODD = {"approvals": {"validator": 1}, "note": "é ✓ \u2028 \u2029 😀 \\ \" \t \u0085 \ufeff <>&'"}
# Rule texts the fast path decodes itself (once per distinct text) while the serializer reads the field: each must
# come out the same, byte for byte (from the adversarial review of ef88ad5).
RULE_TEXTS: dict[str, str] = {
    "unicode_raw": json.dumps(_ODD, ensure_ascii=False), "unicode_escaped": json.dumps(_ODD),
    "big_float": '{"a":1e300}', "big_float_neg": '{"a":-1.7976931348623157e308}',
    "tiny_float": '{"a":1e-7, "b":5e-324, "c":1e-320}', "neg_zero": '{"a":-0.0, "b":-0}',
    "int_2_53_plus_1": '{"a":9007199254740993}', "int_huge": '{"a":' + "9" * 40 + "}",
    "float_forms": '{"a":0.1, "b":1.0, "c":1E2, "d":12345678901234567890.5, "e":1.5e+3, "f":100e-2}',
    "nested_empty": '{"a":{},"b":[],"c":{"d":{}}, "e":[{}], "f":""}', "key_order": '{"zz":1,"a":2,"m":{"y":1,"b":2}}',
    "dup_keys": '{"a":1,"a":2}', "json_null": "null", "top_array": "[1,2,{}]", "top_string": '"x"',
    "whitespace": ' \n{ "a" : 1 }\t ', "deep_400": "[" * 400 + "]" * 400,
}
# Texts SQLite's json_valid accepts and PostgreSQL's jsonb refuses; Python's json refuses the NUL-terminated ones,
# which the field then gives back as text (the fast path once failed the page on them: a 500).
SQLITE_ONLY_TEXTS: dict[str, str] = {
    "nul_escape": '{"a":"\\u0000"}', "trailing_nul": '{"approvals":{"validator":1}}\x00',
    "trailing_nul_junk": '{"approvals":{"validator":1}}\x00junk',
}


def _pages(api: Any, world: dict[str, Any]) -> tuple[bytes, bytes, int]:
    qs = governance_selectors.request_list().order_by("-created_at", "-id")
    fast = _json(governance_fast.requests_out(list(governance_fast.request_rows(qs))))
    api.force_authenticate(world["owner"])
    return fast, _json(RequestOut(qs, many=True).data), api.get("/api/v1/promotion-requests/").status_code


@pytest.mark.parametrize("case", list(RULE_TEXTS))
def test_rule_texts_come_out_as_the_serializer_writes_them(world: dict[str, Any], api: Any, case: str) -> None:
    first, second, *_ = PromotionRequest.objects.order_by("id").values_list("id", flat=True)
    _set_rule(first, RULE_TEXTS[case])
    _set_rule(second, RULE_TEXTS[case])  # two rows share the text: decoded once, written twice
    fast, serialized, status = _pages(api, world)
    assert fast == serialized
    assert status == 200


def test_rule_texts_only_sqlite_stores(world: dict[str, Any], api: Any) -> None:
    first = PromotionRequest.objects.order_by("id").values_list("id", flat=True)[0]
    texts: dict[str, Any] = {**SQLITE_ONLY_TEXTS, "blob_nul": b"1\x00"}  # a blob: the field reads it as it is stored
    for case, text in texts.items():
        if connection.vendor == "postgresql":
            with pytest.raises((DatabaseError, ValueError)), transaction.atomic():
                _set_rule(first, text)
            continue
        _set_rule(first, text)
        fast, serialized, status = _pages(api, world)
        assert fast == serialized, case
        assert status == 200, case
