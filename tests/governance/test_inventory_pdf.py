"""The inventory PDF (issue 22 §3): the same state and instant give the same bytes; the footer's SHA-256 is that of
the JSON the API gives; the head, the checkpoint and every production version's proof are on it; the API and the
admin serve it and refuse what they cannot answer."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from typing import Any

import pypdf
import pytest
import rfc8785
from django.urls import reverse

from audit.checkpoints import checkpoint_create
from audit.models import AuditEntry, Checkpoint
from audit.verifier import verify_inclusion
from governance import inventory, inventory_pdf
from tests.audit.test_reconcile import flow  # noqa: F401  (the fixture: the demo's course in small)

pytestmark = pytest.mark.django_db

FOOTER = re.compile(r"inventory JSON SHA-256 ([0-9a-f]{64})")


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def _flat(pdf: bytes) -> str:
    """The text without white space: a hash wrapped at the end of a line reads whole."""
    return "".join(_text(pdf).split())


def _stamps(pdf: bytes) -> set[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return {m for page in reader.pages for m in FOOTER.findall(page.extract_text())}


def _merged(pages: list[dict[str, Any]]) -> dict[str, Any]:
    return {**pages[0], "models": [m for p in pages for m in p["models"]]}


def _from_api(api: Any, as_of: str) -> dict[str, Any]:
    pages, after = [], None
    while True:
        query = {"as_of": as_of, "limit": "100", **({"after": str(after)} if after is not None else {})}
        page = api.get("/api/v1/inventory/", query).json()
        pages.append(page)
        if page["next"] is None:
            return _merged(pages)
        after = page["next"]


def _promotion_ts(version: Any) -> dt.datetime:
    return AuditEntry.objects.filter(object_type="registry.modelversion", object_id=str(version.pk),
                                     action=inventory.STAGE_CHANGE).order_by("seq").values_list("ts", flat=True)[0]


def test_the_same_state_and_instant_give_the_same_bytes(flow: dict[str, Any]) -> None:  # noqa: F811
    checkpoint_create()
    assert inventory_pdf.render(None) == inventory_pdf.render(None)
    when = _promotion_ts(flow["v2"])
    first = inventory_pdf.render(when)
    assert first == inventory_pdf.render(when) and first.startswith(b"%PDF")
    # Another instant resolving to another entry is another document.
    assert first != inventory_pdf.render(when - dt.timedelta(microseconds=1))


def test_the_stamp_is_the_digest_of_the_json_the_api_gives(flow: dict[str, Any], api: Any) -> None:  # noqa: F811
    checkpoint_create()
    when = _promotion_ts(flow["v2"])
    pdf = inventory_pdf.render(when)
    (stamp,) = _stamps(pdf)  # the same on every page
    api.force_authenticate(flow["people"].aud)
    document = _from_api(api, when.isoformat())
    assert stamp == inventory_pdf.digest(document)
    assert stamp == hashlib.sha256(rfc8785.dumps({k: document[k] for k in inventory_pdf.DIGESTED})).hexdigest()
    # The present: verified at the head's recorded time.
    now = inventory_pdf.render(None)
    head = next(inventory.whole())["head"]
    assert _stamps(now) == {inventory_pdf.digest(_from_api(api, head["ts"]))}


def test_it_shows_the_head_the_checkpoint_and_every_proof(flow: dict[str, Any]) -> None:  # noqa: F811
    checkpoint_create()
    when = _promotion_ts(flow["v2"])
    pdf = inventory_pdf.render(when)
    text, flat = _text(pdf), _flat(pdf)
    page = next(inventory.whole(as_of=when))
    assert f"Inventory as of {when.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}" in text
    assert page["head"]["hash"] in flat and page["head"]["ts"] in flat
    checkpoint = Checkpoint.objects.get(size=page["checkpoint"]["size"])
    assert checkpoint.root in flat and checkpoint.key_id in flat and checkpoint.log_id in flat
    assert "".join(checkpoint.document.split()) in flat  # the signed document, as signed
    (model,) = page["models"]
    production = [v for v in model["versions"] if v["stage"] == "production"]
    assert production
    for version in production:
        proof = version["promotion"]["inclusion"]
        assert verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], proof["tree_size"],
                                [bytes.fromhex(h) for h in proof["proof"]], bytes.fromhex(proof["root"]))
        for value in (version["promotion"]["entry_hash"], proof["leaf_hash"], proof["root"], *proof["proof"]):
            assert value in flat
    assert model["owner"] == "dev" and "Owner" in text
    for request in model["requests"]:
        for approval in request["approvals"]:
            assert approval["approver"] in text
            for evidence in approval["evidence_digests"].values():
                assert evidence["pdf_sha256"] in flat and evidence["json_sha256"] in flat


def test_without_a_checkpoint_it_says_why_there_is_no_proof(flow: dict[str, Any]) -> None:  # noqa: F811
    text = _text(inventory_pdf.render(None))
    assert "None made yet" in text and "Inventory at entry" in text and "(present)" in text
    checkpoint_create()
    pending = _promotion_ts(flow["v2"])
    assert "Inclusion proof" not in _text(inventory_pdf.render(pending - dt.timedelta(microseconds=1)))


def test_a_checkpoint_older_than_the_promotion_leaves_the_proof_pending(make_user: Any) -> None:
    from governance import services
    from tests.governance.helpers import People, full_evidence, version_for

    people = People(make_user)
    version = version_for(people, tier="low")
    full_evidence(version)
    covered = checkpoint_create().size
    request = services.promotion_request_create(version=version, target_stage="production", justification="ok",
                                                by=people.dev)
    services.approval_record(request=request, by=people.val, role="validator", decision="approve", comment="ok")
    services.approval_record(request=request, by=people.risk, role="risk_officer", decision="approve")
    version.refresh_from_db()
    assert version.stage == "production"
    text = _text(inventory_pdf.render(None))
    assert "none yet: the latest checkpoint covers" in text and f"covers {covered} entries" in text


def test_one_model(flow: dict[str, Any], api: Any) -> None:  # noqa: F811
    checkpoint_create()
    pdf = inventory_pdf.render(None, "pd")
    assert "model pd" in _text(pdf)
    api.force_authenticate(flow["people"].aud)
    one = api.get("/api/v1/inventory/pd/").json()
    assert _stamps(pdf) == {inventory_pdf.digest({**one, "models": [one["model"]]})}
    with pytest.raises(inventory.NotFound):
        inventory_pdf.render(None, "nope")


def test_pages_of_models_stream_into_one_document(make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.factories import make_model

    dev = make_user("dev", "model developer")
    for i in range(5):
        make_model(dev, f"m{i}", title="A title long enough to wrap " * 4 + "x" * 80)  # 192: within 200
    monkeypatch.setattr(inventory, "MAX_PAGE", 2)
    pages = list(inventory.whole())
    assert len(pages) == 3
    pdf = inventory_pdf.render(None)
    assert _stamps(pdf) == {inventory_pdf.digest(_merged(pages))}
    flat = _flat(pdf)
    assert all(f"m{i}" in flat for i in range(5))


def test_the_story_is_drawn_a_few_models_at_a_time() -> None:
    pulled = []

    def chunks() -> Any:
        for n in range(1000):
            pulled.append(n)
            yield [n, n]

    story = inventory_pdf._Story(["cover"], chunks())
    assert len(story) >= inventory_pdf.AHEAD and len(pulled) <= inventory_pdf.AHEAD
    while len(story):
        del story[0]
    assert len(pulled) == 1000


def test_the_api_serves_the_pdf(flow: dict[str, Any], api: Any) -> None:  # noqa: F811
    checkpoint_create()
    api.force_authenticate(flow["people"].aud)
    when = _promotion_ts(flow["v2"])
    resp = api.get("/api/v1/inventory.pdf", {"as_of": when.isoformat()})
    assert resp.status_code == 200 and resp["Content-Type"] == "application/pdf"
    assert resp.content == inventory_pdf.render(when)
    assert resp["X-Content-SHA256"] == hashlib.sha256(resp.content).hexdigest()
    assert resp["Content-Disposition"].startswith('attachment; filename="inventory-')
    one = api.get("/api/v1/inventory.pdf", {"model": "pd"})
    assert one.status_code == 200 and one.content == inventory_pdf.render(None, "pd")
    assert 'inventory-present-pd.pdf' in one["Content-Disposition"]


@pytest.mark.parametrize(("query", "status", "says"), [
    ({"as_of": "2026-01-01T00:00:00"}, 400, "UTC offset"),
    ({"as_of": "yesterday"}, 400, "as_of"),
    ({"as_of": ""}, 400, "as_of"),
    ({"as_of": "2999-01-01T00:00:00Z"}, 400, "future"),
    ({"model": " "}, 400, "model"),
    ({"limit": "10"}, 400, "'limit'"),
    ({"asof": "2026-01-01T00:00:00Z"}, 400, "'asof'"),
    ({"model": "nope"}, 404, "'nope'"),
])
def test_the_api_refuses_what_it_cannot_answer(make_user: Any, api: Any, query: dict[str, str], status: int,
                                               says: str) -> None:
    api.force_authenticate(make_user("aud", "auditor"))
    resp = api.get("/api/v1/inventory.pdf", query)
    assert resp.status_code == status, resp.content
    assert says in resp.json()["detail"]


def test_anonymous_is_refused(api: Any, db: None) -> None:
    assert api.get("/api/v1/inventory.pdf").status_code in (401, 403)


def test_the_admin_url(flow: dict[str, Any], client: Any) -> None:  # noqa: F811
    checkpoint_create()
    client.force_login(flow["people"].gov)
    url = reverse("admin:governance_inventory_pdf")
    when = _promotion_ts(flow["v2"])
    resp = client.get(url, {"as_of": when.isoformat(), "model": "pd"})
    assert resp.status_code == 200 and resp["Content-Type"] == "application/pdf"
    assert resp.content == inventory_pdf.render(when, "pd")
    # A form left empty asks for the present, of every model.
    assert client.get(url, {"as_of": "", "model": ""}).content == inventory_pdf.render(None)
    for query, says in (({"as_of": "yesterday"}, "not a date"), ({"model": "nope"}, "'nope'"),
                        ({"x": "1"}, "unknown parameter")):
        resp = client.get(url, query, HTTP_REFERER="http://testserver/admin/somewhere/")
        assert resp.status_code == 302 and resp["Location"] == "http://testserver/admin/somewhere/"
        assert says in " ".join(str(m) for m in client.get(reverse("admin:index")).context["messages"])
    # Not back to another site.
    resp = client.get(url, {"as_of": "yesterday"}, HTTP_REFERER="https://elsewhere.example/")
    assert resp["Location"] == reverse("admin:index")


def test_the_admin_url_needs_staff(flow: dict[str, Any], client: Any) -> None:  # noqa: F811
    client.force_login(flow["people"].aud)
    resp = client.get(reverse("admin:governance_inventory_pdf"))
    assert resp.status_code == 302 and "/login/" in resp["Location"]
