"""The audit API: its date filters' seq range returns exactly the entries a plain ts filter does; a forged cursor is
an invalid cursor; export bounds are ASCII digits, and a refused export leaves no temporary files."""

from __future__ import annotations

import base64
import datetime as dt
import glob
import os
import tempfile
from typing import Any

import pytest

from audit import writer
from audit.context import audit_context, system_actor
from audit.models import AuditEntry
from tests.factories import make_model
from tests.governance.helpers import People

pytestmark = pytest.mark.django_db


def _seqs(api, **params: str) -> list[int]:
    body = api.get("/api/v1/audit/entries/", {**params, "page_size": 500}).json()
    return [e["seq"] for e in body["results"]]


def test_since_and_until_match_the_timestamps(api, make_user):
    api.force_authenticate(make_user("root", superuser=True))
    with audit_context(actor=system_actor("test"), channel="system"):
        for i in range(6):
            writer.record(action="audit.test.event", obj=writer.ObjectRef(type="test.thing", id=str(i), repr="t"))
    entries = list(AuditEntry.objects.order_by("seq").values_list("seq", "ts"))
    stamps = sorted({ts for _, ts in entries})
    probes = [stamps[0] - dt.timedelta(days=1), *stamps, stamps[-1] + dt.timedelta(microseconds=1)]
    for t in probes:
        after = [s for s, ts in entries if ts >= t][::-1]
        before = [s for s, ts in entries if ts < t][::-1]
        assert _seqs(api, since=t.isoformat()) == after, t
        assert _seqs(api, until=t.isoformat()) == before, t
    lo, hi = stamps[1], stamps[-2]
    assert _seqs(api, since=lo.isoformat(), until=hi.isoformat()) == [s for s, ts in entries if lo <= ts < hi][::-1]


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


def _cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/audit/entries/", "/api/v1/audit/checkpoints/",
                                 "/api/v1/audit/entries/history/registry.registeredmodel/1/"])
@pytest.mark.parametrize("position", ["abc", "1.5", "", "-1", "\u0661", str(2**63)])
def test_a_forged_cursor_position_is_an_invalid_cursor(api: Any, people: People, url: str, position: str) -> None:
    api.force_authenticate(people.aud)
    resp = api.get(url, {"cursor": _cursor(f"p={position}")})
    assert resp.status_code == 404 and resp.json()["detail"] == "Invalid cursor"
    # A cursor the API made itself still pages.
    make_model(people.dev, "m1")
    make_model(people.dev, "m2")
    first = api.get("/api/v1/audit/entries/", {"page_size": 1}).json()
    assert api.get(first["next"]).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "\u0661", "1.0", str(2**63)])
def test_export_bounds_are_ascii_digits(api: Any, people: People, value: str) -> None:
    api.force_authenticate(people.aud)
    for name in ("from", "to"):
        resp = api.get("/api/v1/audit/export/", {name: value})
        assert resp.status_code == 400 and resp.json()["detail"] == f"{name} must be a positive integer"


@pytest.mark.django_db
def test_a_refused_export_leaves_no_temporary_files(
    api: Any, people: People, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A temporary directory of its own: other processes' exports in the shared /tmp must not count.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    api.force_authenticate(people.aud)
    pattern = os.path.join(tempfile.gettempdir(), "modelgov-export-*")
    assert tempfile.gettempdir() == str(tmp_path)
    resp = api.get("/api/v1/audit/export/", {"from": 99999})
    assert resp.status_code == 400
    assert glob.glob(pattern) == []
