"""Governance over the API: the same rules as the services, as 400/403/409 with the rule named."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from governance.models import PromotionRequest
from tests.governance.helpers import People, full_evidence, version_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return People(make_user)


@pytest.fixture
def version(people):
    v = version_for(people, tier="high")
    full_evidence(v)
    return v


def as_(api, user):
    api.force_authenticate(user)
    return api


def _create(api, people, version):
    resp = as_(api, people.dev).post("/api/v1/promotion-requests/",
                                     {"version": version.pk, "target_stage": "production", "justification": "ok"},
                                     format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()


def test_full_workflow_over_the_api(api, people, version):
    body = _create(api, people, version)
    assert body["status"] == "pending"
    assert {g["name"] for g in body["gates"]} >= {"evidence.bias", "metric.roc_auc"}
    assert body["open_slots"] == {"validator": 1, "risk_officer": 1, "compliance_officer": 1}
    rid = body["id"]
    queue = as_(api, people.val).get("/api/v1/promotion-requests/awaiting-me/").json()
    assert [r["id"] for r in queue["results"]] == [rid]
    assert as_(api, people.dev).get("/api/v1/promotion-requests/awaiting-me/").json()["results"] == []
    for user, role in [(people.val, "validator"), (people.risk, "risk_officer"), (people.comp, "compliance_officer")]:
        resp = as_(api, user).post(f"/api/v1/promotion-requests/{rid}/approve/", {"role": role, "comment": "fine"},
                                   format="json")
        assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "approved"
    assert as_(api, people.aud).get(f"/api/v1/versions/{version.pk}/").json()["stage"] == "production"
    approve_entries = AuditEntry.objects.filter(action="governance.approval.approve")
    assert {e.as_json()["context"]["channel"] for e in approve_entries} == {"api"}


@pytest.mark.parametrize("who, role, status, rule", [
    ("dev", "validator", 403, "role.required"),
    ("aud", "validator", 403, "role.required"),
    ("root", "validator", 403, "role.required"),
    ("risk", "validator", 403, "role.required"),
    ("val", "validator", 200, None),
])
def test_who_may_approve(api, people, version, who, role, status, rule):
    rid = _create(api, people, version)["id"]
    resp = as_(api, getattr(people, who)).post(f"/api/v1/promotion-requests/{rid}/approve/", {"role": role},
                                               format="json")
    assert resp.status_code == status, resp.content
    if rule:
        assert resp.json()["rule"] == rule


def test_requester_cannot_approve_via_api(api, people, version):
    from django.contrib.auth.models import Group

    people.dev.groups.add(Group.objects.get(name="model validator"))
    rid = _create(api, people, version)["id"]
    resp = as_(api, people.dev).post(f"/api/v1/promotion-requests/{rid}/approve/", {"role": "validator"},
                                     format="json")
    assert resp.status_code == 403
    assert resp.json()["rule"] in ("sod.requester_cannot_decide", "sod.creator_cannot_decide")


def test_conflicts_and_bad_input(api, people, version):
    rid = _create(api, people, version)["id"]
    dup = as_(api, people.dev).post("/api/v1/promotion-requests/",
                                    {"version": version.pk, "target_stage": "production", "justification": "again"},
                                    format="json")
    assert dup.status_code == 409
    assert as_(api, people.val).post(f"/api/v1/promotion-requests/{rid}/reject/", {"role": "validator"},
                                     format="json").status_code == 400
    assert as_(api, people.val).post(f"/api/v1/promotion-requests/{rid}/approve/", {"role": "boss"},
                                     format="json").status_code == 400
    assert as_(api, people.val).post(f"/api/v1/promotion-requests/{rid}/reject/",
                                     {"role": "validator", "comment": "no"}, format="json").status_code == 200
    again = as_(api, people.risk).post(f"/api/v1/promotion-requests/{rid}/approve/", {"role": "risk_officer"},
                                       format="json")
    assert again.status_code == 409
    assert as_(api, people.dev).post("/api/v1/promotion-requests/", {"version": 99999, "target_stage": "production",
                                                                     "justification": "x"},
                                     format="json").status_code == 400
    assert as_(api, people.val).get("/api/v1/promotion-requests/99999/").status_code == 404


def test_policies_only_for_governance_admins(api, people):
    assert as_(api, people.val).get("/api/v1/policies/").status_code == 200
    pid = as_(api, people.gov).get("/api/v1/policies/").json()["results"][0]["id"]
    assert as_(api, people.val).patch(f"/api/v1/policies/{pid}/", {"description": "x"},
                                      format="json").status_code == 403
    ok = as_(api, people.gov).patch(f"/api/v1/policies/{pid}/", {"description": "tighter"}, format="json")
    assert ok.status_code == 200 and ok.json()["version"] == 2
    bad = as_(api, people.gov).patch(f"/api/v1/policies/{pid}/", {"rules": {"production": {}}}, format="json")
    assert bad.status_code == 400


def test_token_lifecycle(api, people):
    resp = as_(api, people.dev).post("/api/v1/tokens/", {"name": "ci"}, format="json")
    assert resp.status_code == 201
    key, tid = resp.json()["key"], resp.json()["id"]
    api.force_authenticate(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/models/").status_code == 200
    assert api.post(f"/api/v1/tokens/{tid}/revoke/").status_code == 200
    assert api.get("/api/v1/models/").status_code == 401
    actions = set(AuditEntry.objects.filter(object_type="governance.apitoken").values_list("action", flat=True))
    assert actions == {"auth.token.create", "auth.token.revoke"}
    created = AuditEntry.objects.get(action="auth.token.create").as_json()
    assert created["changes"]["key_hash"] == {"old": "<redacted>", "new": "<redacted>"}
    assert key not in bytes(AuditEntry.objects.get(action="auth.token.create").canonical).decode()


def test_withdraw_over_api(api, people, version):
    rid = _create(api, people, version)["id"]
    assert as_(api, people.val).post(f"/api/v1/promotion-requests/{rid}/withdraw/").status_code == 403
    assert as_(api, people.dev).post(f"/api/v1/promotion-requests/{rid}/withdraw/").json()["status"] == "withdrawn"
    assert PromotionRequest.objects.get(pk=rid).status == "withdrawn"


# Decisions judged at their moment, over the API (issue 20) -----------------------------------------------------


def _patch_model(api, user, model, **body):
    resp = as_(api, user).patch(f"/api/v1/models/{model.name}/", body, format="json")
    assert resp.status_code == 200, resp.content
    return resp


def _approve(api, user, rid, role):
    return as_(api, user).post(f"/api/v1/promotion-requests/{rid}/approve/", {"role": role}, format="json")


def test_a_developer_taken_off_the_model_to_approve_is_refused(api, people, version):
    from django.contrib.auth.models import Group

    people.dev2.groups.add(Group.objects.get(name="model validator"))
    rid = _create(api, people, version)["id"]
    _patch_model(api, people.dev, version.model, developers=[])
    resp = _approve(api, people.dev2, rid, "validator")
    assert resp.status_code == 403 and resp.json()["rule"] == "sod.developer_cannot_decide"
    _patch_model(api, people.dev, version.model, developers=["dev2"])
    assert not as_(api, people.dev2).get("/api/v1/promotion-requests/awaiting-me/").json()["results"]


def test_a_validator_handed_the_model_loses_their_approval_at_once(api, people, version):
    rid = _create(api, people, version)["id"]
    assert _approve(api, people.val, rid, "validator").status_code == 200
    assert _approve(api, people.risk, rid, "risk_officer").status_code == 200
    _patch_model(api, people.dev, version.model, owner="val")
    body = _approve(api, people.comp, rid, "compliance_officer").json()
    assert body["status"] == "pending" and body["open_slots"] == {"validator": 1}
    lapsed = next(a for a in body["approvals"] if a["approver"] == "val")
    assert lapsed["lapsed_at"] and "owner or developer" in lapsed["lapse_reason"]


def test_a_request_past_its_time_to_live_is_expired_by_the_first_decision(api, people, version, clock):
    rid = _create(api, people, version)["id"]
    clock.advance(days=40)
    assert as_(api, people.val).get(f"/api/v1/promotion-requests/{rid}/").json()["status"] == "expired"
    assert as_(api, people.val).get("/api/v1/promotion-requests/awaiting-me/").json()["results"] == []
    resp = _approve(api, people.val, rid, "validator")
    assert resp.status_code == 409 and resp.json()["rule"] == "request.expired"
    assert PromotionRequest.objects.get(pk=rid).status == "expired"
    assert AuditEntry.objects.filter(action="governance.promotionrequest.expire").count() == 1


def test_an_approval_without_the_evidence_is_refused_and_the_evidence_completes_it(api, people):
    from tests.governance.helpers import add_report

    bare = version_for(people, tier="low", name="bare", metrics={})

    def ask(stage):
        return as_(api, people.dev).post("/api/v1/promotion-requests/", {
            "version": bare.pk, "target_stage": stage, "justification": "ok"}, format="json").json()["id"]

    production, staging = ask("production"), ask("staging")
    resp = _approve(api, people.val, production, "validator")
    assert resp.status_code == 409 and resp.json()["rule"] == "evidence.not_ready"
    assert "no succeeded bias report" in resp.json()["detail"] and "lineage" in resp.json()["detail"]
    # Staging a low-tier model needs only the performance report its ROC AUC gate reads: refused, naming it.
    resp = _approve(api, people.val, staging, "validator")
    assert resp.status_code == 409 and "no succeeded performance report" in resp.json()["detail"]
    add_report(bare, "performance", "info")  # measures ROC AUC 0.8: the one approval now completes the request
    body = _approve(api, people.val, staging, "validator").json()
    assert body["status"] == "approved"
    assert [(g["name"], g["passed"]) for g in body["gates"]] == [("evidence.performance", True),
                                                                  ("metric.roc_auc", True)]
    assert as_(api, people.aud).get(f"/api/v1/versions/{bare.pk}/").json()["stage"] == "staging"


def test_a_decided_request_shows_its_frozen_gates_and_later_evidence_apart(api, people, version):
    from tests.governance.helpers import add_report

    rid = _create(api, people, version)["id"]
    for user, role in [(people.val, "validator"), (people.risk, "risk_officer"), (people.comp, "compliance_officer")]:
        body = _approve(api, user, rid, role).json()
    assert body["status"] == "approved" and all(g["passed"] for g in body["gates"]) and body["gates"]
    later = add_report(version, "lineage", "info", digest="q")
    body = as_(api, people.aud).get(f"/api/v1/promotion-requests/{rid}/").json()
    assert body["evidence"]["lineage"]["report_id"] != later.pk
    assert [e["report_id"] for e in body["evidence_not_reviewed"]] == [later.pk]
    assert all(a["evidence_digests"] == body["evidence"] for a in body["approvals"])
