"""Governance in the admin: the queue, the approval page, bulk actions — same rules as every channel."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from governance import services
from tests.governance.helpers import People, full_evidence, version_for

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
