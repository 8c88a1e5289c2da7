"""Tokens and service accounts (issue 20 §6): a token makes no tokens, a revoked token leaves nothing behind,
service accounts owned by a person and listed for governance admins, and a person never approves what their
CI account did."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from audit import writer
from audit.context import audit_context, user_actor
from audit.models import AuditEntry
from config.errors import PermissionDenied
from governance import accounts, rules, services, tokens
from governance.models import ApiToken, ServiceAccount
from governance.roles import MODEL_DEVELOPER, MODEL_VALIDATOR, RISK_OFFICER
from tests.factories import make_model, make_version
from tests.governance.helpers import People, full_evidence

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return People(make_user)


@pytest.fixture
def ci(people):
    """A CI pipeline's account, owned by the validator `val`, able to register models."""
    with audit_context(actor=user_actor(people.gov)):
        return accounts.service_account_create(by=people.gov, owner=people.val, username="ci-bot",
                                               purpose="nightly training pipeline", roles=[MODEL_DEVELOPER])


def _with_token(api, key):
    api.force_authenticate(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def _session(api, user):
    api.credentials()
    api.force_authenticate(user)
    return api


# A token makes no tokens.

def test_a_token_cannot_create_tokens(api, people):
    _, key = tokens.token_create(user=people.dev, by=people.dev, name="one day", lifetime=tokens.dt.timedelta(days=1))
    resp = _with_token(api, key).post("/api/v1/tokens/", {"name": "a year", "lifetime_days": 365}, format="json")
    assert resp.status_code == 403
    assert resp["Content-Type"].startswith("application/json")
    assert resp.json()["rule"] == "token.from_token"
    assert ApiToken.objects.filter(user=people.dev).count() == 1
    # Signed in with a password (a session), the same person creates one.
    resp = _session(api, people.dev).post("/api/v1/tokens/", {"name": "a year", "lifetime_days": 365}, format="json")
    assert resp.status_code == 201, resp.content


def test_a_revoked_token_leaves_no_token_behind(api, people):
    token, key = tokens.token_create(user=people.dev, by=people.dev, name="leaked")
    assert _with_token(api, key).get("/api/v1/tokens/").status_code == 200
    _with_token(api, key).post("/api/v1/tokens/", {"name": "successor"}, format="json")
    tokens.token_revoke(token=token, by=people.dev)
    assert _with_token(api, key).get("/api/v1/tokens/").status_code == 401
    assert list(ApiToken.objects.filter(user=people.dev, revoked_at__isnull=True)) == []


def test_the_service_refuses_a_token_made_with_a_token(people):
    parent, _ = tokens.token_create(user=people.dev, by=people.dev, name="parent")
    with pytest.raises(PermissionDenied) as refused:
        tokens.token_create(user=people.dev, by=people.dev, by_token=parent, name="child")
    assert refused.value.rule == "token.from_token"
    with pytest.raises(PermissionDenied) as refused:  # nor for anyone else
        tokens.token_create(user=people.val, by=people.dev, name="theirs")
    assert refused.value.rule == "token.owner"


def test_request_auth_is_the_token(people):
    token, key = tokens.token_create(user=people.dev, by=people.dev, name="mine")
    request = Request(APIRequestFactory().get("/api/v1/tokens/", HTTP_AUTHORIZATION=f"Token {key}"))
    assert tokens.TokenAuthentication().authenticate(request) == (people.dev, token)


# Service accounts: owned by a person, with their own tokens, listed for governance admins.

def test_service_accounts_are_listed_for_governance_admins(api, people, ci):
    listed = _session(api, people.gov).get("/api/v1/service-accounts/").json()["results"]
    assert [(a["username"], a["owner"], a["roles"]) for a in listed] == [("ci-bot", "val", [MODEL_DEVELOPER])]
    assert _session(api, people.val).get("/api/v1/service-accounts/").json()["results"][0]["username"] == "ci-bot"
    for stranger in (people.dev, people.risk, people.aud):
        assert _session(api, stranger).get("/api/v1/service-accounts/").json()["results"] == []
        assert _session(api, stranger).get(f"/api/v1/service-accounts/{ci.pk}/").status_code == 404


def test_only_governance_admins_create_service_accounts(api, people):
    body = {"username": "ci-2", "owner": "dev", "purpose": "scoring", "roles": [MODEL_DEVELOPER]}
    resp = _session(api, people.dev).post("/api/v1/service-accounts/", body, format="json")
    assert resp.status_code == 403 and resp.json()["rule"] == "service_account.admin"
    resp = _session(api, people.gov).post("/api/v1/service-accounts/", body, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["owner"] == "dev"
    assert AuditEntry.objects.filter(action="governance.service_account.create").exists()
    resp = _session(api, people.gov).post("/api/v1/service-accounts/", {**body, "username": "ci-3",
                                                                        "roles": [MODEL_VALIDATOR]}, format="json")
    assert resp.status_code == 403 and resp.json()["rule"] == "role.service_account"


def test_a_service_account_never_holds_an_approver_role(people, ci):
    with pytest.raises(PermissionDenied) as refused:
        accounts.role_grant(role=MODEL_VALIDATOR, user=ci.user, by=people.gov)
    assert refused.value.rule == "role.service_account"
    assert not rules.holds_role(ci.user, MODEL_VALIDATOR)


def test_the_owner_makes_the_accounts_tokens_from_a_session(api, people, ci):
    resp = _session(api, people.val).post(f"/api/v1/service-accounts/{ci.pk}/tokens/", {"name": "ci"},
                                          format="json")
    assert resp.status_code == 201, resp.content
    key = resp.json()["key"]
    assert ApiToken.objects.get(pk=resp.json()["id"]).user == ci.user
    assert _with_token(api, key).get("/api/v1/tokens/").status_code == 200
    # Not with a token, not the account's own, and not by someone who does not own it.
    resp = _with_token(api, key).post("/api/v1/tokens/", {"name": "more"}, format="json")
    assert resp.status_code == 403 and resp.json()["rule"] == "token.from_token"
    _, owner_key = tokens.token_create(user=people.val, by=people.val, name="owner's")
    resp = _with_token(api, owner_key).post(f"/api/v1/service-accounts/{ci.pk}/tokens/", {"name": "x"},
                                            format="json")
    assert resp.status_code == 403 and resp.json()["rule"] == "token.from_token"
    resp = _session(api, people.dev).post(f"/api/v1/service-accounts/{ci.pk}/tokens/", {"name": "x"}, format="json")
    assert resp.status_code == 404
    assert ApiToken.objects.filter(user=ci.user).count() == 1


def test_a_disabled_account_or_a_departed_owner_ends_its_tokens(api, people, ci):
    _, key = tokens.token_create(user=ci.user, by=people.val, name="ci")
    assert _with_token(api, key).get("/api/v1/tokens/").status_code == 200
    people.val.is_active = False
    people.val.save()
    assert _with_token(api, key).get("/api/v1/tokens/").status_code == 401
    people.val.is_active = True
    people.val.save()
    resp = _session(api, people.gov).post(f"/api/v1/service-accounts/{ci.pk}/disable/")
    assert resp.status_code == 200, resp.content
    assert _with_token(api, key).get("/api/v1/tokens/").status_code == 401
    assert not ApiToken.objects.filter(user=ci.user, revoked_at__isnull=True).exists()


# Separation of duties: what a CI account did is its owner's.

@pytest.fixture
def ci_request(people, ci):
    model = make_model(people.dev, "scorecard", risk_tier="high", developers=[ci.user])
    version = make_version(model, ci.user, metrics={"roc_auc": 0.82})
    full_evidence(version)
    with audit_context(actor=user_actor(ci.user)):
        return services.promotion_request_create(version=version, target_stage="production",
                                                 justification="nightly", by=ci.user)


def test_the_owner_of_a_ci_account_cannot_approve_what_it_requested(api, people, ci_request):
    assert rules.answers_for(people.val) == [people.val.pk, people.val.owned_service_accounts.get().user_id]
    assert rules.may_decide(people.val, ci_request, timezone.now()) == []
    resp = _session(api, people.val).post(f"/api/v1/promotion-requests/{ci_request.pk}/approve/",
                                          {"role": "validator"}, format="json")
    assert resp.status_code == 403 and resp.json()["rule"] == "sod.requester_cannot_decide"
    assert _session(api, people.val).get("/api/v1/promotion-requests/awaiting-me/").json()["results"] == []
    # Another validator, who owns no part of it, may.
    queue = _session(api, people.val2).get("/api/v1/promotion-requests/awaiting-me/").json()["results"]
    assert [r["id"] for r in queue] == [ci_request.pk]
    resp = _session(api, people.val2).post(f"/api/v1/promotion-requests/{ci_request.pk}/approve/",
                                           {"role": "validator"}, format="json")
    assert resp.status_code == 200, resp.content


def test_the_owner_of_a_ci_account_is_refused_in_the_admin(client, people, ci_request):
    people.val.is_staff = True
    people.val.save()
    client.force_login(people.val)
    page = client.get("/admin/governance/promotionrequest/").content.decode()
    assert f"/admin/governance/promotionrequest/{ci_request.pk}/" not in page
    client.post(f"/admin/governance/promotionrequest/{ci_request.pk}/review/",
                {"role": "validator", "_approve": "Approve"})
    assert not AuditEntry.objects.filter(action="governance.approval.approve").exists()


def test_the_owner_of_a_ci_account_developing_a_model_cannot_decide_on_it(people, ci):
    model = make_model(people.dev, "limits", risk_tier="high", developers=[ci.user])
    version = make_version(model, people.dev, metrics={"roc_auc": 0.82})
    full_evidence(version)
    req = services.promotion_request_create(version=version, target_stage="production", justification="go",
                                            by=people.dev)
    with pytest.raises(PermissionDenied) as refused:
        rules.require_may_decide(people.val, req, "validator", now=timezone.now())
    assert refused.value.rule == "sod.developer_cannot_decide"


def test_only_the_owner_makes_a_service_accounts_tokens(api, people, ci, make_user):
    # Was: a governance admin (or a superuser) could make a token for a service account someone else owns, act as
    # it (register a model, request its promotion) and then decide that promotion in a role of their own: the
    # account's acts counted as its owner's, never as theirs.
    with audit_context(actor=user_actor(people.root)):
        accounts.role_grant(role=RISK_OFFICER, user=people.gov, by=people.root)
    for by in (people.gov, people.root):
        resp = _session(api, by).post(f"/api/v1/service-accounts/{ci.pk}/tokens/", {"name": "mine"}, format="json")
        assert resp.status_code == 403, resp.content
        assert resp.json()["rule"] == "token.owner"
        with pytest.raises(PermissionDenied):
            tokens.token_create(user=ci.user, by=by, name="mine")
    assert not ApiToken.objects.filter(user=ci.user).exists()
    # Governance admins still see it, disable it and revoke its tokens; its owner makes them.
    _, key = tokens.token_create(user=ci.user, by=people.val, name="ci")
    token = ApiToken.objects.get(user=ci.user)
    resp = _session(api, people.gov).post(f"/api/v1/tokens/{token.pk}/revoke/")
    assert resp.status_code == 200, resp.content
    assert _with_token(api, key).get("/api/v1/tokens/").status_code == 401


def test_a_service_account_keeps_its_owner_and_stays_one(people, ci, ci_request):
    # Was: from a shell, `account.owner = someone_else; writer.save(account)` (recorded, yet accepted) made what the
    # pipeline requested no longer its owner's, who then approved it; `writer.delete(account)` made the pipeline's
    # account a person's, who could then be granted an approver role, and `disabled_at = None` revived it.
    account = ServiceAccount.objects.get(pk=ci.pk)
    account.owner = people.val2
    with pytest.raises(PermissionDenied) as refused, audit_context(actor=user_actor(people.gov)):
        writer.save(account)
    assert refused.value.rule == "service_account.immutable"
    account = ServiceAccount.objects.get(pk=ci.pk)
    account.user = people.dev2
    with pytest.raises(PermissionDenied), audit_context(actor=user_actor(people.gov)):
        writer.save(account)
    with pytest.raises(PermissionDenied), audit_context(actor=user_actor(people.gov)):
        writer.delete(ServiceAccount.objects.get(pk=ci.pk))
    with pytest.raises(PermissionDenied) as refused:
        services.approval_record(request=ci_request, by=people.val, role="validator", decision="approve")
    assert refused.value.rule == "sod.requester_cannot_decide"
    disabled = accounts.service_account_disable(account=ci, by=people.gov)
    disabled.disabled_at = None
    with pytest.raises(PermissionDenied), audit_context(actor=user_actor(people.gov)):
        writer.save(disabled)
    assert ServiceAccount.objects.get(pk=ci.pk).owner == people.val
    assert ServiceAccount.objects.get(pk=ci.pk).disabled_at is not None


def test_a_revoked_token_stays_revoked_and_a_token_keeps_its_user_and_end(api, people):
    # Was: from a shell, `token.revoked_at = None` (or a later expires_at, or another user) saved through the
    # writer, recorded but accepted: a revoked or expired token worked again, or acted as someone else.
    token, key = tokens.token_create(user=people.dev, by=people.dev, name="one day",
                                     lifetime=tokens.dt.timedelta(days=1))
    for field, value in (("expires_at", timezone.now() + tokens.dt.timedelta(days=365)), ("user_id", people.val.pk),
                         ("expires_at", None), ("key_hash", "0" * 64)):
        changed = ApiToken.objects.get(pk=token.pk)
        setattr(changed, field, value)
        with pytest.raises(PermissionDenied) as refused, audit_context(actor=user_actor(people.gov)):
            writer.save(changed)
        assert refused.value.rule == "record.fixed"  # the writer's refusal, before the token's own
    tokens.token_revoke(token=ApiToken.objects.get(pk=token.pk), by=people.gov)
    revived = ApiToken.objects.get(pk=token.pk)
    revived.revoked_at = None
    with pytest.raises(PermissionDenied), audit_context(actor=user_actor(people.gov)):
        writer.save(revived)
    with pytest.raises(PermissionDenied), audit_context(actor=user_actor(people.gov)):
        writer.delete(ApiToken.objects.get(pk=token.pk))
    assert _with_token(api, key).get("/api/v1/tokens/").status_code == 401
