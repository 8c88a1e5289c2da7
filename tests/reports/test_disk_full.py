"""A full disk while writing a report or an export: a clear error, nothing corrupted or half-served."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from audit.models import AuditEntry
from config.errors import InvalidInput

pytestmark = pytest.mark.django_db


def _full(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_report_on_a_full_disk_fails_clearly(registered: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                            django_capture_on_commit_callbacks: Any) -> None:
    from django.core.files.storage import default_storage

    from reports import services

    monkeypatch.setattr(default_storage, "save", _full)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.report_request(version=registered["v2"], kind="lineage", by=registered["val"])
    report.refresh_from_db()
    assert report.status == "failed"
    assert "No space left on device" in report.error
    assert not report.pdf and not report.pdf_sha256


def test_export_on_a_full_disk_leaves_no_partial_bundle(make_user: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from audit.export import export_bundle
    from tests.factories import make_model

    make_model(make_user("dev", "model developer"), "pd")
    before = AuditEntry.objects.count()
    real_open = Path.open

    def open_full(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, mode, *args, **kwargs)
        if self.name.endswith(".partial"):
            handle.write = _full  # type: ignore[method-assign]
        return handle

    monkeypatch.setattr(Path, "open", open_full)
    with pytest.raises(InvalidInput, match="No space left on device"):
        export_bundle(tmp_path / "bundle")
    assert not list((tmp_path / "bundle").glob("entries.jsonl*"))
    assert AuditEntry.objects.count() == before  # no "exported" entry for an export that did not happen
