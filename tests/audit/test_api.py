"""The audit API's date filters: the seq range they add returns exactly the entries a plain ts filter does."""

from __future__ import annotations

import datetime as dt

import pytest

from audit import writer
from audit.context import audit_context, system_actor
from audit.models import AuditEntry

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
