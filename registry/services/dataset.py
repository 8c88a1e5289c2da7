"""Services for datasets and their immutable versions."""

from __future__ import annotations

from typing import IO, Any

from django.conf import settings
from django.db.models import Max

from audit import writer
from config.errors import Conflict, InvalidInput
from registry import labels
from registry.models import Dataset, DatasetVersion
from registry.services.common import apply_edits, require_perm, validate_count
from registry.storage import normalise_sha256, spooled, store
from registry.tabular import check_header, header_bytes, inspect_csv

VERSION_EDITABLE = ("description", "provenance", "licence")


def dataset_create(*, by: Any, name: str, description: str = "") -> Dataset:
    require_perm(by, "registry.add_dataset", doing="register a dataset")
    if Dataset.objects.filter(name=name).exists():
        raise Conflict(f"a dataset named {name!r} already exists")
    dataset = Dataset(name=name, description=description, owner=by)
    writer.save(dataset)
    return dataset


def dataset_version_create(
    *,
    dataset: Dataset,
    by: Any,
    file: IO[bytes] | None = None,
    uri: str = "",
    expected_sha256: str | None = None,
    target_column: str = "",
    positive_label: str = "",
    sensitive_columns: list[str] | None = None,
    description: str = "",
    provenance: str = "",
    licence: str = "",
    parents: list[DatasetVersion] | None = None,
    row_count: int | None = None,
    allow_schema_change: bool = False,
) -> DatasetVersion:
    """Register a dataset version from an uploaded CSV, or by URI and declared digest.

    A target column's labels are two values, one of them `positive_label` (by default 1 of a 0/1 column)."""
    require_perm(by, "registry.add_datasetversion", doing="register a dataset version")
    sensitive = list(sensitive_columns or [])
    if not all(isinstance(c, str) and c for c in sensitive):
        raise InvalidInput("sensitive_columns must be a list of column names")
    if not isinstance(positive_label, str) or len(positive_label) > 200 or "\x00" in positive_label:
        raise InvalidInput("positive_label must be a text of at most 200 characters, without NUL")
    if (file is None) == (not uri):
        raise InvalidInput("give either a file or a uri (with its sha256), not both or neither")
    parent_list = list(parents or [])
    if file is None:
        row_count = validate_count(row_count, name="row_count")
        digest = normalise_sha256(expected_sha256)
        if digest is None:
            raise InvalidInput("a dataset registered by uri needs its sha256")
        if positive_label and not target_column:
            raise InvalidInput("a positive label is declared for a target column: name the target column")
        # Nothing is read of a file registered by URI: the label is recorded as declared.
        version = DatasetVersion(
            uri=uri, sha256=digest, size=0, row_count=row_count, schema=[],
            positive_label=positive_label or (labels.DEFAULT_POSITIVE if target_column else ""),
        )
        return _save_version(dataset, version, by, target_column, sensitive, description, provenance,
                             licence, parent_list)
    with spooled(
        file, max_bytes=settings.REGISTRY_MAX_DATASET_BYTES, expected_sha256=expected_sha256, what="dataset file",
        check_head=(header_bytes(), lambda head, whole: check_header(head, whole=whole)),
    ) as spool:
        shape = inspect_csv(spool.path, target_column=target_column, sensitive_columns=sensitive,
                            positive_label=positive_label)
        if not allow_schema_change:
            _require_same_columns(dataset, [c["name"] for c in shape.schema])
        name = store(spool, prefix="datasets", suffix=".csv")
        version = DatasetVersion(
            file=name, sha256=spool.sha256, size=spool.size, row_count=shape.row_count, schema=shape.schema,
            positive_label=shape.positive_label,
        )
        return _save_version(dataset, version, by, target_column, sensitive, description, provenance,
                             licence, parent_list)


def _require_same_columns(dataset: Dataset, columns: list[str]) -> None:
    """A new version keeps the dataset's columns; different data under the same name must say so."""
    previous = dataset.versions.exclude(schema=[]).order_by("-version").first()
    if previous is None:
        return
    before = [c["name"] for c in previous.schema]
    extra, missing = sorted(set(columns) - set(before)), sorted(set(before) - set(columns))
    if extra or missing:
        raise InvalidInput(
            f"the columns differ from {previous}: extra {', '.join(extra) or 'none'}; missing "
            f"{', '.join(missing) or 'none'}. Register it as another dataset, or pass allow_schema_change"
        )


def _save_version(
    dataset: Dataset,
    version: DatasetVersion,
    by: Any,
    target_column: str,
    sensitive: list[str],
    description: str,
    provenance: str,
    licence: str,
    parents: list[DatasetVersion],
) -> DatasetVersion:
    with writer.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        current = locked.versions.aggregate(n=Max("version"))["n"] or 0
        version.dataset = locked
        version.version = current + 1
        version.target_column = target_column
        version.sensitive_columns = sensitive
        version.description = description
        version.provenance = provenance
        version.licence = licence
        version.created_by = by
        parent_ids = sorted(p.pk for p in parents)
        writer.save(version, extra_changes={"parents": {"old": None, "new": parent_ids}} if parent_ids else None)
        if parent_ids:
            with writer.permit_governed_writes():
                version.parents.set(parent_ids)
    return version


def dataset_version_update(*, version: DatasetVersion, by: Any, **edits: Any) -> DatasetVersion:
    require_perm(by, "registry.change_datasetversion", doing="edit a dataset version")
    apply_edits(version, edits, editable=VERSION_EDITABLE)
    writer.save(version)
    return version
