"""Governance in the admin: the queue, the approval page, bulk actions — same rules as every channel."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from audit.models import AuditEntry
from governance import services
from governance.models import Approval
from tests.governance.helpers import People, full_evidence, staff_world, version_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    p = People(make_user)
    for user in (p.val, p.risk, p.comp, p.dev, p.aud):
        user.is_staff = True
        user.save()
    return p


@pytest.fixture
def req(people):
    version = version_for(people)
    full_evidence(version)
    return services.promotion_request_create(version=version, target_stage="production", justification="go",
                                             by=people.dev)


def test_queue_shows_requests_awaiting_my_roles(client, people, req):
    client.force_login(people.val)
    page = client.get("/admin/governance/promotionrequest/").content.decode()
    assert f"/admin/governance/promotionrequest/{req.pk}/" in page
    client.force_login(people.dev)
    page = client.get("/admin/governance/promotionrequest/").content.decode()
    assert f"/admin/governance/promotionrequest/{req.pk}/" not in page


def test_review_page_and_approve_with_comment(client, people, req):
    client.force_login(people.val)
    page = client.get(f"/admin/governance/promotionrequest/{req.pk}/review/").content.decode()
    assert req.version.artifact_sha256 in page and "evidence.bias" in page and "Approve" in page
    resp = client.post(f"/admin/governance/promotionrequest/{req.pk}/review/",
                       {"role": "validator", "comment": "looks right", "_approve": "Approve"})
    assert resp.status_code == 302
    entry = AuditEntry.objects.get(action="governance.approval.approve").as_json()
    assert entry["context"]["channel"] == "admin" and entry["actor"]["name"] == "val"
    assert entry["changes"]["comment"]["new"] == "looks right"


def test_requester_is_refused_in_the_admin_too(client, people, req):
    from django.contrib.auth.models import Group

    people.dev.groups.add(Group.objects.get(name="model validator"))
    client.force_login(people.dev)
    page = client.get(f"/admin/governance/promotionrequest/{req.pk}/review/").content.decode()
    assert 'name="_approve"' not in page
    resp = client.post(f"/admin/governance/promotionrequest/{req.pk}/review/",
                       {"role": "validator", "_approve": "Approve"}, follow=True)
    assert "Refused" in resp.content.decode()
    assert not AuditEntry.objects.filter(action="governance.approval.approve").exists()


def test_bulk_actions_obey_the_rules(client, people, req):
    client.force_login(people.risk)
    resp = client.post("/admin/governance/promotionrequest/?queue=all",
                       {"action": "approve_selected", "_selected_action": [req.pk], "role": "validator"},
                       follow=True)
    assert "you do not hold the role" in resp.content.decode()
    resp = client.post("/admin/governance/promotionrequest/?queue=all",
                       {"action": "approve_selected", "_selected_action": [req.pk], "role": "risk_officer"},
                       follow=True)
    assert "Approved 1 request" in resp.content.decode()
    assert req.approvals.get().approver == people.risk


def test_policy_edit_through_admin_is_audited(client, people):
    from governance.models import Policy

    client.force_login(people.gov)
    policy = Policy.objects.get()
    import json

    resp = client.post(f"/admin/governance/policy/{policy.pk}/change/",
                       {"description": "edited", "rules": json.dumps(policy.rules)})
    assert resp.status_code == 302, resp.content[:500]
    assert Policy.objects.get().version == 2
    assert AuditEntry.objects.filter(action="governance.policy.update").exists()


def test_tokens_are_revoked_in_the_admin_never_edited(client, people):
    from governance.models import ApiToken
    from governance.tokens import token_create

    mine, _ = token_create(user=people.gov, name="gov-ci")
    theirs, _ = token_create(user=people.dev, name="dev-laptop")
    client.force_login(people.gov)
    url = f"/admin/governance/apitoken/{theirs.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and b'name="_save"' not in page.content  # view only
    assert client.post(url, {"name": "renamed"}).status_code == 403  # refused, not a 500
    resp = client.post("/admin/governance/apitoken/", {"action": "revoke_selected", "_selected_action": [theirs.pk]},
                       follow=True)
    assert "1 token(s) revoked." in resp.content.decode()
    theirs.refresh_from_db()
    assert theirs.revoked_at is not None and theirs.name == "dev-laptop"
    entry = AuditEntry.objects.get(action="auth.token.revoke").as_json()
    assert entry["context"]["channel"] == "admin" and entry["actor"]["name"] == "gov"
    # Again: the service's rule answers, and nothing changes.
    resp = client.post("/admin/governance/apitoken/", {"action": "revoke_selected", "_selected_action": [theirs.pk]},
                       follow=True)
    assert "the token is already revoked" in resp.content.decode()
    # Someone who is not a governance admin cannot reach the tokens at all.
    client.force_login(people.val)
    resp = client.post("/admin/governance/apitoken/", {"action": "revoke_selected", "_selected_action": [mine.pk]})
    assert resp.status_code == 403
    mine.refresh_from_db()
    assert mine.revoked_at is None
    assert ApiToken.objects.filter(revoked_at__isnull=False).count() == 1
    assert AuditEntry.objects.filter(action="auth.token.revoke").count() == 1


# Decisions judged at their moment, in the admin (issue 20) -----------------------------------------------------


def _model_form(model, **change):
    data = {"title": model.title, "description": "", "owner": model.owner_id,
            "developers": list(model.developers.values_list("pk", flat=True)), "business_unit": "",
            "intended_use": "", "out_of_scope_uses": "", "risk_tier": model.risk_tier,
            "eu_ai_act_category": model.eu_ai_act_category, "tags": "[]"}
    data.update(change)
    return data


def _review(client, req, **post):
    url = f"/admin/governance/promotionrequest/{req.pk}/review/"
    if not post:
        return client.get(url).content.decode()
    resp = client.post(url, post, follow=True)
    return [str(m) for m in resp.context["messages"]]


def test_a_developer_taken_off_in_the_admin_still_cannot_decide(client, people, req):
    from django.contrib.auth.models import Group

    people.dev2.groups.add(Group.objects.get(name="model validator"))
    people.dev2.is_staff = True
    people.dev2.save()
    model = req.version.model
    client.force_login(people.gov)  # a governance admin edits the model in the admin
    resp = client.post(f"/admin/registry/registeredmodel/{model.pk}/change/", _model_form(model, developers=[]))
    assert resp.status_code == 302, resp.content[:2000]
    client.force_login(people.dev2)
    assert f"/admin/governance/promotionrequest/{req.pk}/" not in client.get(
        "/admin/governance/promotionrequest/").content.decode()
    messages = _review(client, req, role="validator", comment="", _approve="Approve")
    assert any("can never approve or reject its promotion" in m for m in messages)
    assert not req.approvals.exists()


def test_an_owner_change_in_the_admin_lapses_the_new_owners_approval(client, people, req):
    client.force_login(people.val)
    assert not any("Refused" in m for m in _review(client, req, role="validator", comment="", _approve="Approve"))
    model = req.version.model
    client.force_login(people.gov)
    resp = client.post(f"/admin/registry/registeredmodel/{model.pk}/change/", _model_form(model, owner=people.val.pk))
    assert resp.status_code == 302, resp.content[:2000]
    page = _review(client, req)
    assert "lapsed: its approver may no longer decide" in page
    approval = req.approvals.get()
    assert approval.lapsed_at is not None


def test_an_expired_request_says_so_and_refuses_decisions_in_the_admin(client, people, req, clock):
    clock.advance(days=40)
    client.force_login(people.val)
    assert f"/admin/governance/promotionrequest/{req.pk}/" not in client.get(
        "/admin/governance/promotionrequest/").content.decode()
    assert "Expired: past its time to live" in _review(client, req)
    messages = _review(client, req, role="validator", comment="", _approve="Approve")
    assert any("Refused: the request expired" in m for m in messages)
    assert AuditEntry.objects.filter(action="governance.promotionrequest.expire").count() == 1


def test_an_approval_without_evidence_is_refused_in_the_admin_naming_it(client, people):
    version = version_for(people, name="bare")
    bare = services.promotion_request_create(version=version, target_stage="production", justification="go",
                                             by=people.dev)
    client.force_login(people.val)
    messages = _review(client, bare, role="validator", comment="", _approve="Approve")
    assert any("no succeeded bias report" in m for m in messages)
    resp = client.post("/admin/governance/promotionrequest/?queue=all",
                       {"action": "approve_selected", "_selected_action": [str(bare.pk)], "role": "validator",
                        "comment": ""}, follow=True)
    assert any("evidence the policy requires" in str(m) for m in resp.context["messages"])
    assert not bare.approvals.exists()


def test_a_decided_request_shows_gates_at_the_decision_and_evidence_not_reviewed(client, people, req):
    from tests.governance.helpers import add_report

    for user, role in ((people.val, "validator"), (people.risk, "risk_officer"), (people.comp, "compliance_officer")):
        services.approval_record(request=req, by=user, role=role, decision="approve")
    later = add_report(req.version, "lineage", "info", digest="l")
    client.force_login(people.aud)
    page = _review(client, req)
    assert "Gates at the decision" in page and "evidence.bias" in page and "Evidence at the decision" in page
    assert "Evidence not reviewed" in page and f"lineage #{later.pk}" in page


@pytest.fixture
def world(make_user: Any) -> People:
    return staff_world(make_user)


@pytest.mark.parametrize("object_id", ["abc", "-1", "1.5", "1%20", "%25"])
def test_a_request_url_that_is_no_number_is_a_404(client: Any, world: Any, object_id: str) -> None:
    client.force_login(world.val)
    assert client.get(f"/admin/governance/promotionrequest/{object_id}/change/").status_code == 404


def test_the_review_page_needs_the_permission_to_view_requests(client: Any, world: Any, make_user: Any) -> None:
    client.force_login(make_user("staffonly", is_staff=True))
    url = f"/admin/governance/promotionrequest/{world.req.pk}/review/"
    assert client.get(url).status_code == 403
    assert client.post(url, {"role": "validator", "comment": "x", "_approve": "Approve"}).status_code == 403
    client.force_login(world.val)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("comment", ["ok\x00", "\x00", "x" * 10_001])
@pytest.mark.parametrize("button", ["_approve", "_reject"])
def test_a_comment_the_api_refuses_is_refused_in_the_admin(client: Any, world: Any, comment: str, button: str) -> None:
    client.force_login(world.val)
    before = AuditEntry.objects.count()
    resp = client.post(f"/admin/governance/promotionrequest/{world.req.pk}/review/",
                       {"role": "validator", "comment": comment, button: "x"}, follow=True)
    assert resp.status_code == 200
    assert any("Refused" in str(m) for m in resp.context["messages"])
    assert not Approval.objects.exists() and AuditEntry.objects.count() == before


@pytest.mark.parametrize("who", ["developer", "owner"])
def test_the_owner_and_developers_of_a_model_never_decide_on_its_promotion(client: Any, world: Any, who: str) -> None:
    # dev2 is an assigned developer of the model, dev its owner; neither requested (dev did) nor created it (dev did)
    # in the developer case: only the new rule stands in the way.
    model = world.version.model
    person = world.dev2 if who == "developer" else world.multi
    if who == "owner":
        model.owner = person
        from audit import writer
        from audit.context import audit_context, system_actor

        with audit_context(actor=system_actor("test")):
            writer.save(model)
    person.groups.add(Group.objects.get(name="model validator"))
    person.is_staff = True
    person.save()
    client.force_login(person)
    resp = client.post(f"/admin/governance/promotionrequest/{world.req.pk}/review/",
                       {"role": "validator", "comment": "mine", "_approve": "Approve"}, follow=True)
    assert any("can never approve or reject its promotion" in str(m) for m in resp.context["messages"])
    assert not Approval.objects.filter(approver=person).exists()
