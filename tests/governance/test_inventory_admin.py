"""The admin page "Inventory as of": what governance.inventory says at an instant, rendered; its refusals shown on the
page, never a 500; staff only, as every admin page."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import pytest

from audit.checkpoints import checkpoint_create
from audit.models import AuditEntry
from governance import inventory
from tests.audit.test_reconcile import flow  # noqa: F401  (the fixture: the demo's course in small)

pytestmark = pytest.mark.django_db

PAGE = "/admin/governance/promotionrequest/inventory/"


def _promotion_ts(version: Any) -> dt.datetime:
    return AuditEntry.objects.filter(object_type="registry.modelversion", object_id=str(version.pk),
                                     action=inventory.STAGE_CHANGE).order_by("seq").values_list("ts", flat=True)[0]


def _text(resp: Any) -> str:
    assert resp.status_code == 200, resp.status_code
    return html.unescape(resp.content.decode())


def test_the_admin_index_links_to_the_page(client: Any, flow: dict[str, Any]) -> None:  # noqa: F811
    client.force_login(flow["people"].gov)
    assert f'href="{PAGE}"' in _text(client.get("/admin/"))


def test_the_page_at_the_promotion(client: Any, flow: dict[str, Any]) -> None:  # noqa: F811
    checkpoint_create()
    client.force_login(flow["people"].gov)
    when = _promotion_ts(flow["v2"])
    doc = inventory.inventory(as_of=when)
    page = _text(client.get(PAGE, {"as_of": when.isoformat()}))
    assert f"Inventory as of {doc['as_of']}" in page
    assert f"entry #{doc['head']['seq']}" in page and doc["head"]["hash"] in page and doc["head"]["ts"] in page
    assert doc["checkpoint"]["root"] in page
    assert doc["policies_in_force"][0]["rules_sha256"] in page
    (model,) = doc["models"]
    v2 = next(v for v in model["versions"] if v["version"] == 2)
    assert v2["stage"] == "production" and f"#{v2['promotion']['seq']}" in page
    assert f"available: leaf {v2['promotion']['inclusion']['leaf_index']}" in page
    approvals = [a for r in model["requests"] for a in r["approvals"]]
    approvals_table = page.split('class="inventory-approvals"')[1].split("</table>")[0]
    assert approvals and all(f"<strong>{a['approver']}</strong></td>" in approvals_table for a in approvals)
    assert all(ev["pdf_sha256"] in approvals_table and ev["json_sha256"] in approvals_table
               for a in approvals for ev in a["evidence_digests"].values())
    # The model's own page, at the same instant, and the API's document beside it.
    link = f'/admin/governance/promotionrequest/inventory/pd/?as_of={doc["as_of"].replace(":", "%3A")}'
    assert f'href="{link}"' in page
    one = _text(client.get(link))
    assert "pd: Inventory as of" in one and f"#{v2['promotion']['seq']}" in one
    assert f'href="/api/v1/inventory/pd/?as_of={doc["as_of"].replace(":", "%3A")}"' in one


def test_the_picker_is_utc_and_reads_as_the_api(client: Any, flow: dict[str, Any]) -> None:  # noqa: F811
    client.force_login(flow["people"].gov)
    picked = _promotion_ts(flow["v2"]).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")  # whole seconds: past
    page = _text(client.get(PAGE, {"at": picked}))
    doc = inventory.inventory(as_of=dt.datetime.fromisoformat(f"{picked}Z"))
    assert f"entry #{doc['head']['seq']}" in page and f'value="{picked}"' in page


def test_before_the_first_entry(client: Any, flow: dict[str, Any]) -> None:  # noqa: F811
    client.force_login(flow["people"].gov)
    page = _text(client.get(PAGE, {"as_of": "2000-01-01T00:00:00Z"}))
    assert "no entry had been recorded yet" in page and "No model was registered." in page


@pytest.mark.parametrize(("query", "says"), [
    ({"as_of": "2026-01-01T00:00:00"}, "has no UTC offset"),
    ({"as_of": "yesterday"}, "is not a date and time"),
    ({"as_of": ""}, "as_of is empty"),
    ({"as_of": "2999-01-01T00:00:00Z"}, "is in the future"),
    ({"at": "2999-01-01T00:00"}, "is in the future"),
    ({"at": "31/12/2026"}, "is not a date and time"),
    ({"at": "2026-01-01T00:00:00+02:00"}, "is not a date and time"),
    ({"after": "x"}, "after must be a whole number"),
    ({"after": "99999999999999999999"}, "after must be a whole number"),
])
def test_bad_input_is_said_on_the_page(client: Any, make_user: Any, query: dict[str, str], says: str) -> None:
    client.force_login(make_user("gov", "governance admin", is_staff=True))
    page = _text(client.get(PAGE, query))
    assert 'class="errornote"' in page and says in page
    assert "Models</h2>" not in page


def test_an_unknown_model_is_a_404_saying_so(client: Any, make_user: Any) -> None:
    client.force_login(make_user("gov", "governance admin", is_staff=True))
    resp = client.get(f"{PAGE}nope/", {"as_of": "2026-01-01T00:00:00Z"})
    assert resp.status_code == 404 and "no model named 'nope'" in html.unescape(resp.content.decode())
    assert "has no UTC offset" in _text(client.get(f"{PAGE}nope/", {"as_of": "2026-01-01T00:00:00"}))


def test_pages_follow_next(client: Any, make_user: Any) -> None:
    from tests.factories import make_model

    gov = make_user("gov", "governance admin", is_staff=True)
    for i in range(inventory.PAGE + 1):
        make_model(gov, f"m{i:02d}")
    client.force_login(gov)
    first = _text(client.get(PAGE))
    doc = inventory.inventory()
    assert doc["next"] is not None and f'href="?after={doc["next"]}"' in first
    second = _text(client.get(PAGE, {"after": str(doc["next"])}))
    assert f">m{inventory.PAGE:02d}</a>" in second and "inventory-next" not in second


def test_staff_only(client: Any, make_user: Any) -> None:
    assert client.get(PAGE).status_code == 302  # to the admin's login
    client.force_login(make_user("aud", "auditor"))
    resp = client.get(PAGE)
    assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
