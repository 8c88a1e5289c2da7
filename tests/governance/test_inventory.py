"""The inventory as of any instant (issue 22 §3): the spans the log's entries give, equal at every entry boundary
to a brute-force replay of the entries up to it; the document read from them; the API's answers and refusals."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from audit import history
from audit.checkpoints import checkpoint_create
from audit.models import AuditEntry, StateSpan
from audit.reconcile import schema
from audit.replay import fold
from audit.verifier import verify_inclusion
from governance import inventory
from governance.models import Role
from tests.audit.test_reconcile import flow  # noqa: F401  (the fixture: the demo's course in small)

pytestmark = pytest.mark.django_db


def _spans_at(seq: int) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for span in StateSpan.objects.filter(since__lte=seq).exclude(until__lte=seq):
        out.setdefault(span.object_type, {})[span.object_id] = span.fields
    return out


def _brute(entries: list[dict[str, Any]], plan: history.Plan) -> dict[str, dict[str, dict[str, Any]]]:
    """The state after `entries`, folded from scratch by audit.replay, in the spans' terms."""
    state = fold(entries, schema())
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for type_, kept in plan.fields.items():
        for id_, fields in state.objects.get(type_, {}).items():
            out.setdefault(type_, {})[id_] = {k: v for k, v in fields.items() if k in kept}
        for name in plan.lists.get(type_, ()):
            relation = next(link for (t, n), (link, _) in schema().links.items() if t == type_ and n == name)
            by_owner: dict[str, set[str]] = {}
            for owner, member in state.live_links(relation):
                by_owner.setdefault(owner, set()).add(member)
            for id_, members in by_owner.items():
                if id_ in out.get(type_, {}):
                    out[type_][id_][name] = sorted(members)
    return out


def _plain(spans: dict[str, dict[str, dict[str, Any]]], plan: history.Plan) -> dict[str, dict[str, dict[str, Any]]]:
    """The spans less what the brute force does not compute (empty link lists, a user's role codes)."""
    return {t: {i: {k: v for k, v in f.items() if k != history.ROLES and not (k in plan.lists.get(t, ()) and v == [])}
                for i, f in objs.items()} for t, objs in spans.items() if objs}


def test_spans_equal_a_brute_force_replay_at_every_entry(flow: dict[str, Any]) -> None:  # noqa: F811
    entries = [json.loads(bytes(raw)) for raw in AuditEntry.objects.order_by("seq").values_list("canonical",
                                                                                                flat=True)]
    assert len(entries) > 50
    plan = history.plan()
    # Caught up entry by entry (as readers do) rather than at once: the incremental path is the one checked here.
    for entry in entries:
        history.catch_up(entry["seq"])
    for i, entry in enumerate(entries):
        brute = {t: o for t, o in _brute(entries[: i + 1], plan).items() if o}
        brute = {t: {i_: {k: v for k, v in f.items() if not (k in plan.lists.get(t, ()) and v == [])}
                     for i_, f in o.items()} for t, o in brute.items()}
        assert _plain(_spans_at(entry["seq"]), plan) == brute, f"at entry {entry['seq']} ({entry['action']})"
    # And the incremental spans are exactly those a rebuild from the first entry makes.
    assert list(history.check()) == []


def test_a_users_roles_are_the_codes_the_log_granted(flow: dict[str, Any]) -> None:  # noqa: F811
    history.catch_up()
    head = history.folded()
    for span in history.alive(head, history.USER):
        from django.contrib.auth.models import User

        user = User.objects.get(pk=span.object_id)
        held = sorted(Role.objects.filter(group__user=user).values_list("code", flat=True))
        assert sorted(span.fields.get(history.ROLES) or []) == held, user.username


def test_a_span_changed_behind_the_logs_back_is_named(flow: dict[str, Any]) -> None:  # noqa: F811
    history.catch_up()
    v2 = flow["v2"]
    span = StateSpan.objects.get(object_type="registry.modelversion", object_id=str(v2.pk), until__isnull=True)
    fields = dict(span.fields, stage="archived")
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_statespan SET fields = %s WHERE id = %s", [json.dumps(fields), span.pk])
    found = list(history.check())
    assert len(found) == 1
    assert (found[0].object_type, found[0].object_id, found[0].since) == ("registry.modelversion", str(v2.pk),
                                                                          span.since)
    assert found[0].log["fields"]["stage"] == "production" and found[0].table["fields"]["stage"] == "archived"
    assert "state span registry.modelversion#" in str(found[0])
    history.rebuild()
    assert list(history.check()) == []


def _promotion_ts(version: Any) -> dt.datetime:
    return AuditEntry.objects.filter(object_type="registry.modelversion", object_id=str(version.pk),
                                     action=inventory.STAGE_CHANGE).order_by("seq").values_list("ts", flat=True)[0]


def test_the_inventory_before_and_after_the_promotion(flow: dict[str, Any]) -> None:  # noqa: F811
    v2 = flow["v2"]
    when = _promotion_ts(v2)
    before = inventory.inventory(as_of=when - dt.timedelta(microseconds=1))
    (model,) = before["models"]
    stages = {v["version"]: v["stage"] for v in model["versions"]}
    assert stages[2] != "production" and "promotion" not in next(v for v in model["versions"] if v["version"] == 2)
    request = next(r for r in model["requests"] if r["version"] == 2)
    assert request["status"] == "pending" and len(request["approvals"]) == 2

    checkpoint_create()
    after = inventory.inventory(as_of=when)
    (model,) = after["models"]
    v = next(v for v in model["versions"] if v["version"] == 2)
    assert v["stage"] == "production"
    request = next(r for r in model["requests"] if r["version"] == 2)
    assert request["status"] == "approved" and {a["approver"] for a in request["approvals"]} == {"val", "risk", "comp"}
    assert all(a["evidence_digests"] for a in request["approvals"])
    assert after["head"]["seq"] == v["promotion"]["seq"] or after["head"]["seq"] > v["promotion"]["seq"]
    # The proof holds against the latest checkpoint's signed root.
    proof = v["promotion"]["inclusion"]
    assert proof["tree_size"] == after["checkpoint"]["size"] and proof["root"] == after["checkpoint"]["root"]
    assert verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], proof["tree_size"],
                            [bytes.fromhex(h) for h in proof["proof"]], bytes.fromhex(proof["root"]))
    assert model["owner"] == "dev" and model["developers"] == ["dev2"]
    assert [p["name"] for p in after["policies_in_force"]] == ["default"]
    roles = {r["code"]: r["holders"] for r in after["roles"]}
    assert "val" in roles["model_validator"] and "multi" in roles["risk_officer"]


def test_the_present_is_the_same_computation(flow: dict[str, Any]) -> None:  # noqa: F811
    now = inventory.inventory()
    assert now == {**inventory.inventory(as_of=timezone.now()), "as_of": None}
    (model,) = now["models"]
    assert sorted(model["developers"]) == ["dev2", "val2"]  # the edit at the end of the flow
    roles = {r["code"]: r["holders"] for r in now["roles"]}
    assert "multi" not in roles["risk_officer"]  # the role taken away last


def test_before_the_first_entry_there_is_nothing(flow: dict[str, Any]) -> None:  # noqa: F811
    first = AuditEntry.objects.order_by("seq").values_list("ts", flat=True)[0]
    out = inventory.inventory(as_of=first - dt.timedelta(days=1))
    assert out["head"] is None and out["models"] == [] and out["roles"] == []


def test_pages(make_user: Any) -> None:
    from tests.factories import make_model

    dev = make_user("dev", "model developer")
    for i in range(5):
        make_model(dev, f"m{i}")
    first = inventory.inventory(limit=2)
    assert [m["name"] for m in first["models"]] == ["m0", "m1"] and first["next"] is not None
    second = inventory.inventory(limit=2, after=first["next"])
    third = inventory.inventory(limit=2, after=second["next"])
    assert [m["name"] for m in second["models"] + third["models"]] == ["m2", "m3", "m4"] and third["next"] is None
    assert [p["models"] for p in inventory.whole()] == [first["models"] + second["models"] + third["models"]]


def test_the_api(flow: dict[str, Any], api: Any) -> None:  # noqa: F811
    api.force_authenticate(flow["people"].aud)
    when = _promotion_ts(flow["v2"])
    body = api.get("/api/v1/inventory/", {"as_of": when.isoformat()}).json()
    assert body["models"][0]["name"] == "pd" and body["head"]["seq"] >= 1
    one = api.get("/api/v1/inventory/pd/", {"as_of": when.isoformat()}).json()
    assert one["model"] == body["models"][0] and one["head"] == body["head"]
    assert api.get("/api/v1/inventory/pd/").json()["model"]["developers"] == ["dev2", "val2"]


@pytest.mark.parametrize(("query", "says"), [
    ({"as_of": "2026-01-01T00:00:00"}, "UTC offset"),
    ({"as_of": "yesterday"}, "as_of"),
    ({"as_of": ""}, "as_of"),
    ({"as_of": "2999-01-01T00:00:00Z"}, "future"),
    ({"as_of": "2026-01-01T00:00:00+15:00"}, "±14:00"),
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"after": "x"}, "after"),
    ({"after": "99999999999999999999"}, "after"),
    ({"asof": "2026-01-01T00:00:00Z"}, "'asof'"),
])
def test_the_api_refuses_what_it_cannot_answer(make_user: Any, api: Any, query: dict[str, str], says: str) -> None:
    api.force_authenticate(make_user("aud", "auditor"))
    resp = api.get("/api/v1/inventory/", query)
    assert resp.status_code == 400, resp.content
    assert says in resp.json()["detail"]


def test_an_unknown_model_is_a_404_naming_it(make_user: Any, api: Any) -> None:
    api.force_authenticate(make_user("aud", "auditor"))
    resp = api.get("/api/v1/inventory/nope/", {"as_of": "2026-01-01T00:00:00Z"})
    assert resp.status_code == 404 and "'nope'" in resp.json()["detail"]


def test_anonymous_is_refused(api: Any, db: None) -> None:
    assert api.get("/api/v1/inventory/").status_code in (401, 403)


def test_audit_verify_names_a_tampered_span_and_the_command_rebuilds(flow: dict[str, Any]) -> None:  # noqa: F811
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("audit", "spans", "--check", stdout=out)
    assert "what the entries give" in out.getvalue()
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_statespan SET scope = NULL WHERE object_type = 'registry.modelversion'")
    with pytest.raises(CommandError, match="difference"):
        call_command("audit", "verify", "--quiet", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="span"):
        call_command("audit", "spans", "--check", stdout=StringIO())
    out = StringIO()
    call_command("audit", "spans", "--rebuild", "--check", stdout=out)
    assert "what the entries give" in out.getvalue()
    out = StringIO()
    call_command("audit", "verify", "--quiet", stdout=out, stderr=StringIO())
    assert "spans 'as of' reads" in out.getvalue()
