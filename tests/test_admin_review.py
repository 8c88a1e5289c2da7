"""What an adversarial review of the admin found: 500s on hostile input, a page readable without permission,
comments the API refuses accepted, a model's developer deciding on its promotion, and a governance admin able to
raise themselves above their role. Each is now refused plainly, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from audit.models import AuditEntry
from governance import services
from governance.models import Approval
from tests.governance.helpers import People, full_evidence, version_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user: Any) -> People:
    people = People(make_user)
    for user in (people.val, people.risk, people.comp, people.dev, people.dev2, people.aud, people.gov):
        user.is_staff = True
        user.save()
    people.version = version_for(people)  # type: ignore[attr-defined]
    full_evidence(people.version)  # type: ignore[attr-defined]
    people.req = services.promotion_request_create(  # type: ignore[attr-defined]
        version=people.version, target_stage="production", justification="go", by=people.dev)  # type: ignore[attr-defined]
    return people


@pytest.mark.parametrize("query", ["until=9999-12-31", "since=9999-12-31&until=9999-12-31", "q=%C2%B2", "q=1%C2%B2",
                                   "q=%E2%91%A0"])
def test_the_audit_log_list_takes_extreme_dates_and_unicode_digits(client: Any, world: Any, query: str) -> None:
    client.force_login(world.aud)
    assert client.get(f"/admin/audit/auditentry/?{query}").status_code == 200


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


@pytest.mark.parametrize("justification", ["go\x00", "x" * 10_001, 5])
def test_a_justification_is_checked_in_the_service_for_every_channel(world: Any, justification: Any) -> None:
    from config.errors import InvalidInput

    with pytest.raises(InvalidInput):
        services.promotion_request_create(version=world.version, target_stage="staging",
                                          justification=justification, by=world.dev)


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


def _user_form(user: Any, **change: Any) -> dict[str, Any]:
    data = {"username": user.username, "first_name": "", "last_name": "", "email": "", "is_active": "on",
            "date_joined_0": "2024-01-01", "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2024-01-01", "initial-date_joined_1": "00:00:00",
            "groups": [str(g.pk) for g in user.groups.all()]}
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(change)
    return data


def test_a_governance_admin_cannot_raise_themselves_or_touch_a_superuser(client: Any, world: Any) -> None:
    gov, root = world.gov, world.root
    validator = Group.objects.get(name="model validator")
    client.force_login(gov)
    client.post(f"/admin/auth/user/{gov.pk}/change/",
                _user_form(gov, is_superuser="on", groups=[str(validator.pk)]))
    gov.refresh_from_db()
    assert not gov.is_superuser and not gov.groups.filter(pk=validator.pk).exists()
    # Another account's roles are theirs to manage; superuser status and single permissions are not.
    client.post(f"/admin/auth/user/{world.val2.pk}/change/",
                _user_form(world.val2, is_superuser="on", groups=[str(validator.pk)]))
    world.val2.refresh_from_db()
    assert not world.val2.is_superuser and world.val2.groups.filter(pk=validator.pk).exists()
    # A superuser's account, its password included, is closed to them.
    resp = client.post(f"/admin/auth/user/{root.pk}/change/", {**_user_form(root), "is_active": ""})
    assert resp.status_code == 403  # their view permission shows it read-only; no change gets through
    root.refresh_from_db()
    assert root.is_active
    resp = client.post(f"/admin/auth/user/{root.pk}/password/",
                       {"password1": "Another-pass-123", "password2": "Another-pass-123"})
    assert resp.status_code == 403
    root.refresh_from_db()
    assert not root.check_password("Another-pass-123")
    # A role's permissions are shown, not editable.
    auditor = Group.objects.get(name="auditor")
    before = set(auditor.permissions.values_list("pk", flat=True))
    from django.contrib.auth.models import Permission

    everything = [str(p.pk) for p in Permission.objects.all()]
    client.post(f"/admin/auth/group/{auditor.pk}/change/", {"name": "auditor", "permissions": everything})
    assert set(auditor.permissions.values_list("pk", flat=True)) == before


def test_a_superuser_still_administers_every_account(client: Any, world: Any) -> None:
    client.force_login(world.root)
    client.post(f"/admin/auth/user/{world.gov.pk}/change/", _user_form(world.gov, is_superuser="on"))
    world.gov.refresh_from_db()
    assert world.gov.is_superuser
    assert AuditEntry.objects.filter(action="auth.user.update", object_id=str(world.gov.pk)).exists()


@pytest.mark.parametrize("url", ["auth/user", "auth/group", "governance/promotionrequest", "governance/policy"])
def test_an_action_on_an_id_beyond_64_bits_is_a_message(client: Any, world: Any, url: str) -> None:
    client.force_login(world.root)
    resp = client.post(f"/admin/{url}/", {"action": "delete_selected", "_selected_action": [str(2**63)]},
                       follow=True)
    assert resp.status_code == 200


def test_a_form_naming_an_id_beyond_64_bits_is_a_form_error(client: Any, world: Any) -> None:
    client.force_login(world.root)
    auditor = Group.objects.get(name="auditor")
    resp = client.post(f"/admin/auth/group/{auditor.pk}/change/", {"name": "auditor", "permissions": [str(2**63)]})
    assert resp.status_code == 200 and resp.context["adminform"].form.errors
    resp = client.post(f"/admin/registry/registeredmodel/{world.version.model.pk}/change/",
                       {"developers": [str(10**30)], "title": "t", "owner": str(world.dev.pk)})
    assert resp.status_code == 200


def test_commands_name_a_missing_dataset_and_an_unusable_export_root(world: Any, tmp_path: Any) -> None:
    from django.core.management import CommandError, call_command

    from reports.models import Report

    with pytest.raises(CommandError, match="no dataset version #999999"):
        call_command("reports", "generate", str(world.version.pk), "--dataset", "999999", "--as", "dev")
    assert not Report.objects.filter(version=world.version, status="queued").exists()
    in_the_way = tmp_path / "file"
    in_the_way.write_text("x")
    before = AuditEntry.objects.count()
    with pytest.raises(CommandError, match="cannot use"):
        call_command("demo", "--export-root", str(in_the_way))
    assert AuditEntry.objects.count() == before


def test_a_policy_saved_unchanged_keeps_its_version_and_a_long_description_is_refused(world: Any) -> None:
    from config.errors import InvalidInput
    from governance.models import Policy

    policy = Policy.objects.get(is_active=True)
    version, before = policy.version, AuditEntry.objects.count()
    services.policy_update(policy=policy, by=world.gov, rules_=policy.rules, description=policy.description)
    policy.refresh_from_db()
    assert policy.version == version and AuditEntry.objects.count() == before
    with pytest.raises(InvalidInput, match="longer than"):
        services.policy_update(policy=policy, by=world.gov, description="x" * 10_001)
    with pytest.raises(InvalidInput, match="longer than"):
        services.policy_create(by=world.gov, name="long", description="x" * 10_001)
    services.policy_update(policy=policy, by=world.gov, description="changed")
    policy.refresh_from_db()
    assert policy.version == version + 1 and AuditEntry.objects.count() == before + 1


def test_a_change_the_service_refuses_comes_back_as_typed_with_the_reason(client: Any, world: Any) -> None:
    from registry.models import RegisteredModel

    client.force_login(world.root)
    resp = client.post("/admin/registry/registeredmodel/add/",
                       {"name": "fresh", "title": "A long title typed by hand", "owner": str(world.dev.pk),
                        "risk_tier": "high", "eu_ai_act_category": "high", "tags": '{"a": 1}'})
    form = resp.context["adminform"].form
    assert resp.status_code == 200 and any(e.startswith("Refused: ") for e in form.non_field_errors()), form.errors
    assert form["title"].value() == "A long title typed by hand"
    assert not RegisteredModel.objects.filter(name="fresh").exists()
