"""Two requests editing one object at the same time, each in its own transaction on PostgreSQL: the second
waits for the first's row lock, then either applies (other fields) or is refused (the same field), so
the object never loses a committed change and no entry names an old value the row did not hold."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from audit import writer
from audit.models import AuditEntry
from registry.models import RegisteredModel
from tests.factories import make_model


def _in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except Exception as exc:  # handed to the test to assert on
            out["error"] = exc
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def _edit_while_locked(owner: Any, first: dict[str, str], second: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    from registry.services.model import registered_model_update

    model = make_model(owner, "concurrent")
    a, b = RegisteredModel.objects.get(pk=model.pk), RegisteredModel.objects.get(pk=model.pk)
    with writer.atomic():
        registered_model_update(model=a, by=owner, **first)  # the row is locked until this commits
        thread, out = _in_thread(lambda: registered_model_update(model=b, by=owner, **second))
        time.sleep(0.5)
        assert thread.is_alive(), "the second edit must wait for the first's row lock"
    thread.join(timeout=30)
    return model, out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_edit_of_another_field_waits_and_keeps_the_first(make_user: Any) -> None:
    owner = make_user("concurrent-owner", "model developer")
    model, out = _edit_while_locked(owner, {"title": "First"}, {"description": "second"})
    assert "error" not in out, out
    stored = RegisteredModel.objects.get(pk=model.pk)
    assert (stored.title, stored.description) == ("First", "second")
    changes = [e.as_json()["changes"] for e in AuditEntry.objects.filter(
        action="registry.registeredmodel.update").order_by("seq")]
    assert changes == [{"title": {"old": "Concurrent", "new": "First"}}, {"description": {"old": "", "new": "second"}}]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_edit_of_the_same_field_waits_and_is_refused(make_user: Any) -> None:
    from config.errors import Conflict

    owner = make_user("concurrent-owner", "model developer")
    model, out = _edit_while_locked(owner, {"title": "First"}, {"title": "Second"})
    assert isinstance(out.get("error"), Conflict), out
    assert RegisteredModel.objects.get(pk=model.pk).title == "First"
    titles = [e.as_json()["changes"]["title"] for e in AuditEntry.objects.filter(
        action="registry.registeredmodel.update").order_by("seq")]
    assert titles == [{"old": "Concurrent", "new": "First"}]
