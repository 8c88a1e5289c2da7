"""Bad input a user can send: nesting too deep, integers too large, lone surrogates, durations past any
date, an export path that cannot be written. Each is a 400 (or a form error, or a CommandError) with a
message, and nothing is stored."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from audit import db_guards
from audit.models import AuditEntry
from config.errors import InvalidInput
from governance import services
from governance.models import Policy, PromotionRequest
from governance.policies import default_rules
from registry.models import DatasetVersion, ModelVersion, RegisteredModel
from tests.factories import make_model, skops_bytes
from tests.governance.helpers import People, full_evidence, version_for

pytestmark = pytest.mark.django_db

TOO_DEEP_TO_PARSE = "[" * 100_000
# Valid JSON that parses, but deeper than any value we keep (the limit is 32 levels).
NESTED_40 = json.loads("[" * 40 + "]" * 40)


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


def _raw(api: Any, method: str, url: str, body: str) -> Any:
    # json.dumps escapes a lone surrogate as \ud800, which is what a client sends; the test client's own
    # renderer would refuse to encode it.
    return getattr(api, method)(url, body, content_type="application/json")


def _register(api: Any, **fields: Any) -> Any:
    return api.post("/api/v1/models/pd/versions/",
                    {"artifact": SimpleUploadedFile("m.skops", skops_bytes()), "artifact_format": "skops", **fields},
                    format="multipart")


def _policy_with(stage: str, tier: str, **changes: Any) -> dict[str, Any]:
    rules = default_rules()
    rules[stage][tier].update(changes)
    return rules


# a. Nesting too deep ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "who"), [("/api/v1/models/", "dev"), ("/api/v1/datasets/", "root"),
                                          ("/api/v1/policies/", "gov"), ("/api/v1/promotion-requests/", "dev")])
def test_a_json_body_too_deep_to_parse_is_400(api: Any, people: People, url: str, who: str) -> None:
    api.force_authenticate(getattr(people, who))
    resp = _raw(api, "post", url, TOO_DEEP_TO_PARSE)
    assert resp.status_code == 400
    assert "nested more than 32 levels" in resp.json()["detail"]


def test_a_hyperparameters_too_deep_to_parse_is_400(api: Any, people: People) -> None:
    make_model(people.dev, "pd")
    api.force_authenticate(people.dev)
    resp = _register(api, hyperparameters=TOO_DEEP_TO_PARSE)
    assert resp.status_code == 400
    assert "nested more than 32 levels" in resp.json()["hyperparameters"][0]
    assert ModelVersion.objects.count() == 0


@pytest.mark.parametrize("field", ["hyperparameters", "metrics", "packages"])
def test_a_json_fields_deeper_than_the_limit_are_400(api: Any, people: People, field: str) -> None:
    make_model(people.dev, "pd")
    api.force_authenticate(people.dev)
    resp = _register(api, **{field: json.dumps({"layers": NESTED_40})})
    assert resp.status_code == 400
    assert resp.json()["detail"] == f"{field} is nested more than 32 levels deep"
    assert ModelVersion.objects.count() == 0


def test_a_policy_rules_form_field_too_deep_to_parse_is_400(api: Any, people: People) -> None:
    api.force_authenticate(people.gov)
    resp = api.post("/api/v1/policies/", {"name": "p2", "rules": TOO_DEEP_TO_PARSE}, format="multipart")
    assert resp.status_code == 400
    assert "nested more than 32 levels" in resp.json()["rules"][0]
    assert Policy.objects.count() == 1


def test_a_policy_rules_too_deep_are_400_and_the_policy_is_unchanged(api: Any, people: People) -> None:
    policy = Policy.objects.get()
    api.force_authenticate(people.gov)
    rules = _policy_with("production", "high", bias_thresholds={"x": NESTED_40})
    resp = api.patch(f"/api/v1/policies/{policy.pk}/", {"rules": rules}, format="json")
    assert resp.status_code == 400
    assert resp.json()["detail"] == "rules is nested more than 32 levels deep"
    assert Policy.objects.get().version == 1


def test_a_admin_policy_rules_too_deep_are_a_form_error(client: Any, people: People) -> None:
    policy = Policy.objects.get()
    client.force_login(people.gov)
    for text in (TOO_DEEP_TO_PARSE, json.dumps(_policy_with("staging", "low", bias_thresholds={"x": NESTED_40}))):
        resp = client.post(f"/admin/governance/policy/{policy.pk}/change/", {"description": "d", "rules": text})
        assert resp.status_code == 200  # the form again, with its error and what was typed
        assert "nested more than 32 levels" in resp.context["adminform"].form.errors["rules"][0]
    assert Policy.objects.get().version == 1


def test_a_c_admin_tags_too_deep_or_not_unicode_are_a_form_error(client: Any, people: People) -> None:
    people.gov.groups.add(*people.dev.groups.all())
    model = make_model(people.gov, "pd")
    client.force_login(people.gov)
    form = {"title": "PD", "description": "", "owner": people.gov.pk, "business_unit": "", "intended_use": "",
            "out_of_scope_uses": "", "risk_tier": "high", "eu_ai_act_category": "high"}
    for tags in (TOO_DEEP_TO_PARSE, json.dumps(NESTED_40), '["\\ud800"]'):
        resp = client.post(f"/admin/registry/registeredmodel/{model.pk}/change/", {**form, "tags": tags})
        assert resp.status_code == 200, tags[:20]
        assert resp.context["adminform"].form.errors["tags"], tags[:20]
        assert html.escape(tags[:20]) in resp.content.decode()  # what was typed is kept
    model.refresh_from_db()
    assert model.risk_tier == "medium" and model.tags == []


# b. Integers too large ----------------------------------------------------------------------------------


def _dataset(api: Any, people: People) -> None:
    api.force_authenticate(people.root)
    assert api.post("/api/v1/datasets/", {"name": "ds"}, format="json").status_code == 201


@pytest.mark.parametrize("row_count", [2**64, 2**63, -1])
def test_b_row_count_outside_a_64_bit_column_is_400(api: Any, people: People, row_count: int) -> None:
    _dataset(api, people)
    resp = api.post("/api/v1/datasets/ds/versions/",
                    {"uri": "s3://b/d.csv", "expected_sha256": "a" * 64, "row_count": row_count}, format="json")
    assert resp.status_code == 400
    assert "row_count" in resp.json()
    assert DatasetVersion.objects.count() == 0


def test_b_largest_row_count_is_stored(api: Any, people: People) -> None:
    _dataset(api, people)
    resp = api.post("/api/v1/datasets/ds/versions/",
                    {"uri": "s3://b/d.csv", "expected_sha256": "a" * 64, "row_count": 2**63 - 1}, format="json")
    assert resp.status_code == 201
    assert DatasetVersion.objects.get().row_count == 2**63 - 1


def test_b_the_service_refuses_a_row_count_too_large(people: People) -> None:
    from audit.context import audit_context, user_actor
    from registry.models import Dataset
    from registry.services.dataset import dataset_create, dataset_version_create

    with audit_context(actor=user_actor(people.root), channel="system"):
        dataset = dataset_create(by=people.root, name="ds")
        assert isinstance(dataset, Dataset)
        with pytest.raises(InvalidInput, match="row_count must be a whole number from 0 to 9223372036854775807"):
            dataset_version_create(dataset=dataset, by=people.root, uri="s3://b/d.csv", expected_sha256="a" * 64,
                                   row_count=2**64)
    assert DatasetVersion.objects.count() == 0


# c. Lone surrogates in JSON values ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [{"a": "\ud800"}, {"\udfff": 1}, {"a": [{"b": ["ok", "\ud800"]}]}])
def test_c_lone_surrogate_in_hyperparameters_is_400(api: Any, people: People, value: Any) -> None:
    make_model(people.dev, "pd")
    api.force_authenticate(people.dev)
    entries = AuditEntry.objects.count()
    resp = _register(api, hyperparameters=json.dumps(value))
    assert resp.status_code == 400
    assert "lone surrogate" in resp.json()["detail"]
    assert resp.json()["detail"].startswith(("hyperparameters", "a key in hyperparameters"))
    assert ModelVersion.objects.count() == 0 and AuditEntry.objects.count() == entries


def test_c_the_service_refuses_a_tag_with_a_lone_surrogate(people: People) -> None:
    # The CLI and the admin call this service too; the API's CharField refuses such a tag before.
    with pytest.raises(InvalidInput, match=r"tags\[1\] is not valid Unicode text"):
        make_model(people.dev, "pd", tags=["ok", "bad\ud800"])
    assert RegisteredModel.objects.count() == 0


@pytest.mark.parametrize("thresholds", [{"impact_ratio": "\ud800"}, {"\ud800": 0.8}])
def test_c_lone_surrogate_in_policy_rules_is_400(api: Any, people: People, thresholds: dict[str, Any]) -> None:
    policy = Policy.objects.get()
    api.force_authenticate(people.gov)
    rules = _policy_with("production", "high", bias_thresholds=thresholds)
    created = _raw(api, "post", "/api/v1/policies/", json.dumps({"name": "p2", "rules": rules}))
    edited = _raw(api, "patch", f"/api/v1/policies/{policy.pk}/", json.dumps({"rules": rules}))
    for resp in (created, edited):
        assert resp.status_code == 400
        assert "rules.production.high.bias_thresholds" in resp.json()["detail"]
        assert "lone surrogate" in resp.json()["detail"]
    assert Policy.objects.count() == 1 and Policy.objects.get().version == 1


def test_c_admin_policy_rules_with_a_lone_surrogate_are_a_form_error(client: Any, people: People) -> None:
    policy = Policy.objects.get()
    client.force_login(people.gov)
    text = json.dumps(_policy_with("staging", "low", bias_thresholds={"x": "\ud800"}))
    resp = client.post(f"/admin/governance/policy/{policy.pk}/change/", {"description": "d", "rules": text})
    assert resp.status_code == 200
    assert "lone surrogate" in resp.context["adminform"].form.errors["rules"][0]
    assert Policy.objects.get().version == 1


# d. Policy durations past any date ----------------------------------------------------------------------

DURATIONS = [("approval_valid_hours", 87600, "hours"), ("evidence_max_age_days", 3650, "days"),
             ("request_ttl_days", 3650, "days"), ("revalidate_after_days", 3650, "days")]


@pytest.mark.parametrize(("key", "most", "unit"), DURATIONS)
def test_d_policy_duration_beyond_its_bound_is_400(api: Any, people: People, key: str, most: int,
                                                   unit: str) -> None:
    policy = Policy.objects.get()
    api.force_authenticate(people.gov)
    for too_long in (most + 1, 10**12):
        resp = api.patch(f"/api/v1/policies/{policy.pk}/", {"rules": _policy_with("staging", "low", **{key: too_long})},
                         format="json")
        assert resp.status_code == 400
        assert resp.json()["detail"] == f"rules.staging.low.{key} must be a whole number of {unit} from 1 to {most}"
    assert Policy.objects.get().version == 1


@pytest.mark.parametrize(("key", "most", "unit"), DURATIONS)
def test_d_service_refuses_a_duration_beyond_its_bound(people: People, key: str, most: int, unit: str) -> None:
    policy = Policy.objects.get()
    with pytest.raises(InvalidInput, match=f"from 1 to {most}"):
        services.policy_update(policy=policy, by=people.gov, rules_=_policy_with("production", "high", **{key: 10**12}))
    with pytest.raises(InvalidInput, match=f"from 1 to {most}"):
        services.policy_create(by=people.gov, name="long", rules_=_policy_with("production", "high", **{key: 10**12}))
    assert Policy.objects.get().version == 1


def test_d_at_the_bounds_request_approve_revalidate_and_expire_still_work(people: People) -> None:
    import datetime as dt

    from django.utils import timezone

    from governance.policies import DURATIONS as BOUNDS

    # The largest durations the policy accepts must leave every date computed from them representable.
    rules = default_rules()
    for stage in rules.values():
        for rule in stage.values():
            rule.update({key: most for key, (_, most) in BOUNDS.items()})
    services.policy_update(policy=Policy.objects.get(), by=people.gov, rules_=rules)
    version = version_for(people)
    full_evidence(version)
    request = services.promotion_request_create(version=version, target_stage="production", justification="go",
                                                by=people.dev)
    for who, role in (("val", "validator"), ("risk", "risk_officer"), ("comp", "compliance_officer")):
        request = services.approval_record(request=request, by=getattr(people, who), role=role, decision="approve")
    assert request.status == "approved"
    later = timezone.now() + dt.timedelta(days=BOUNDS["revalidate_after_days"][1] + 1)
    assert len(services.revalidation_open_due(now=later)) == 1
    much_later = later + dt.timedelta(days=BOUNDS["request_ttl_days"][1] + 1)
    assert services.promotion_requests_expire(now=much_later) == 1
    assert PromotionRequest.objects.filter(status="expired").count() == 1


def test_d_rules_stored_before_the_bounds_are_read_at_the_bound(people: People) -> None:
    """A policy (and the rules frozen from it) saved before the bounds existed may hold 10**12 hours:
    approve, re-validation and expiry must still work, reading it as the bound."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    rules = default_rules()
    for stage in rules.values():
        for rule in stage.values():
            rule.update({key: 10**12 for key, *_ in DURATIONS})
    with db_guards.suspended(connection), connection.cursor() as cursor:  # as an older release left it
        cursor.execute("UPDATE governance_policy SET rules = %s", [json.dumps(rules)])
    version = version_for(people)
    full_evidence(version)
    request = services.promotion_request_create(version=version, target_stage="production", justification="go",
                                                by=people.dev)
    assert request.policy_rule["approval_valid_hours"] == 10**12  # frozen as stored
    for who, role in (("val", "validator"), ("risk", "risk_officer"), ("comp", "compliance_officer")):
        request = services.approval_record(request=request, by=getattr(people, who), role=role, decision="approve")
    assert request.status == "approved"
    later = timezone.now() + dt.timedelta(days=3651)
    assert len(services.revalidation_open_due(now=later)) == 1
    assert services.promotion_requests_expire(now=later + dt.timedelta(days=3651)) == 1


# e. An export path that cannot be written ---------------------------------------------------------------


def test_e_export_under_a_file_is_a_command_error(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    with pytest.raises(CommandError, match=f"cannot write the export to {afile / 'sub'}: "):
        call_command("audit", "export", str(afile / "sub"), "--quiet")
    assert afile.read_text() == "not a directory"


# The API's safety net: an error only unchecked input can cause is a 400, not a 500. --------------------


@pytest.mark.parametrize(("exc", "words"), [
    (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
    (OverflowError("Python int too large to convert to SQLite INTEGER"), "too large"),
    (rfc8785.CanonicalizationError("input contains non-UTF-8 codepoints"), "cannot be recorded"),
])
def test_safety_net_turns_unchecked_input_errors_into_400(exc: Exception, words: str) -> None:
    from config.api import exception_handler

    resp = exception_handler(exc, {})
    assert resp is not None and resp.status_code == 400
    assert words in resp.data["detail"] and resp.data["code"] == "invalid"


def test_safety_net_answers_a_view_that_lets_overflow_escape(api: Any, people: People, monkeypatch: Any) -> None:
    from registry.services import model as model_services

    def overflow(**_: Any) -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    monkeypatch.setattr(model_services, "registered_model_create", overflow)
    api.force_authenticate(people.root)
    resp = api.post("/api/v1/models/", {"name": "m", "title": "M"}, format="json")
    assert resp.status_code == 400 and "too large" in resp.json()["detail"]
    assert RegisteredModel.objects.count() == 0


@pytest.mark.parametrize("path", ["/admin/auth/group/", "/admin/governance/promotionrequest/",
                                  "/admin/auth/user/", "/admin/governance/apitoken/"])
def test_an_admin_action_on_ids_that_are_not_keys_is_a_message_not_a_500(client: Any, make_user: Any,
                                                                         path: str) -> None:
    root = make_user("root-actions", superuser=True, is_staff=True)
    client.force_login(root)
    before = AuditEntry.objects.count()
    resp = client.post(path, {"action": "delete_selected", "_selected_action": ["abc"], "index": "0"}, follow=True)
    assert resp.status_code == 200
    assert "names no object of this list" in resp.content.decode()
    assert AuditEntry.objects.count() == before


def test_a_patch_naming_a_field_it_cannot_change_is_refused_not_ignored(api: Any, people: People) -> None:
    """{"stage": "production"} answered 200 and changed nothing: a client could take it for a promotion."""
    version = version_for(people, tier="low")
    api.force_authenticate(people.dev)
    before = AuditEntry.objects.count()
    resp = api.patch(f"/api/v1/versions/{version.pk}/", {"stage": "production", "description": "d"}, format="json")
    assert resp.status_code == 400 and "stage cannot be changed here" in resp.json()["stage"][0], resp.json()
    resp = api.patch(f"/api/v1/models/{version.model.name}/", {"name": "renamed"}, format="json")
    assert resp.status_code == 400 and "name" in resp.json(), resp.json()
    api.force_authenticate(people.gov)
    policy = Policy.objects.get()
    resp = api.patch(f"/api/v1/policies/{policy.pk}/", {"version": 7}, format="json")
    assert resp.status_code == 400 and "version" in resp.json(), resp.json()
    assert ModelVersion.objects.get(pk=version.pk).stage == version.stage
    assert ModelVersion.objects.get(pk=version.pk).description == version.description
    assert AuditEntry.objects.count() == before
    api.force_authenticate(people.dev)  # what may be changed still is
    assert api.patch(f"/api/v1/versions/{version.pk}/", {"description": "d"}, format="json").status_code == 200
