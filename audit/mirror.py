"""Copies of the signed checkpoints outside the database: a directory and/or an S3 bucket with object lock.

Someone who can rewrite the database can rewrite the checkpoints stored in it too; a copy they cannot
change is what a rewritten history is checked against (`audit verify --against DIR`). A copy that
could not be made (disk full, bucket unreachable) never undoes or fails the checkpoint: the failure is
logged, and the latest checkpoints the mirrors lack are copied again on every scheduled run and every
`manage.py audit checkpoint`, which reports what is still missing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.utils import timezone

from audit import signing
from audit.format.checkpoint import key_id
from audit.models import Checkpoint
from config.errors import InvalidInput, ServiceUnavailable
from config.files import write_once

logger = logging.getLogger(__name__)

S3_PREFIX = "checkpoints/"
S3_KEYS_PREFIX = S3_PREFIX + "keys/"
# Object lock retention of each copy in the bucket (COMPLIANCE mode: no one can delete it before then).
S3_RETENTION = dt.timedelta(days=365 * 10)


def file_name(size: int) -> str:
    """Zero-padded so that names sort in the order of the checkpoints."""
    return f"checkpoint-{size:012d}.json"


def _body(cp: Checkpoint) -> bytes:
    return (cp.document + "\n").encode()


def _to_directory(path: Path, cp: Checkpoint) -> None:
    # The key first: a copy is never there without the key that checks it.
    write_once(path / "keys" / f"{cp.key_id}.pub", signing.public_key_pem(cp.key_id), 0o444)
    write_once(path / file_name(cp.size), _body(cp), 0o444)


def s3_client() -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None)


def _to_bucket(bucket: str, cps: list[Checkpoint]) -> None:
    client = s3_client()
    # Which of these the bucket has, from one listing: names sort by size, so the listing starts just
    # before the smallest and stops past the largest.
    first, last = S3_PREFIX + file_name(cps[0].size), S3_PREFIX + file_name(cps[-1].size)
    have: set[str] = set()
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=S3_PREFIX + "checkpoint-", StartAfter=first.removesuffix(".json"))
    for page in pages:
        keys = [obj["Key"] for obj in page.get("Contents", [])]
        have.update(keys)
        if not keys or keys[-1] >= last:
            break
    for cp in cps:
        key = S3_PREFIX + file_name(cp.size)
        if key not in have:
            _put_locked(client, bucket, key, _body(cp), "application/json")
    for kid in sorted({cp.key_id for cp in cps}):
        key = f"{S3_KEYS_PREFIX}{kid}.pub"
        if not client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount"):
            _put_locked(client, bucket, key, signing.public_key_pem(kid), "application/x-pem-file")


def _put_locked(client: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=timezone.now() + S3_RETENTION)


def mirror(cps: list[Checkpoint]) -> list[str]:
    """Copy these checkpoints to every configured location that lacks them.

    Never raises for a location that fails: returns one line per failed location ("where: why"), and
    logs it as an error.
    """
    cps = sorted(cps, key=lambda cp: cp.size)
    failures: list[str] = []
    if not cps:
        return failures
    directory = settings.AUDIT_CHECKPOINT_MIRROR_DIR
    if directory:
        try:
            for cp in cps:
                _to_directory(Path(directory), cp)  # write_once makes the directories
        except (OSError, KeyError) as exc:  # KeyError: a checkpoint's public key is gone
            failures.append(f"directory {directory}: {exc}")
    bucket = settings.AUDIT_CHECKPOINT_MIRROR_S3_BUCKET
    if bucket:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            _to_bucket(bucket, cps)
        except (BotoCoreError, ClientError, KeyError) as exc:
            failures.append(f"s3://{bucket}/{S3_PREFIX}: {exc}")
    for failure in failures:
        logger.error("checkpoint(s) %s..%s not mirrored to %s", cps[0].size, cps[-1].size, failure)
    return failures


def mirror_recent() -> list[str]:
    """Copy the latest AUDIT_CHECKPOINT_MIRROR_CATCH_UP checkpoints the mirrors lack (see `mirror`)."""
    if not (settings.AUDIT_CHECKPOINT_MIRROR_DIR or settings.AUDIT_CHECKPOINT_MIRROR_S3_BUCKET):
        return []
    latest = list(Checkpoint.objects.order_by("-size")[: settings.AUDIT_CHECKPOINT_MIRROR_CATCH_UP])
    return mirror(latest)


def mirrored_checkpoints(location: str | Path) -> list[tuple[dict[str, Any], bytes]]:
    """Checkpoints kept outside the database (a directory, or "s3://bucket"), with their public keys,
    by increasing size. A location that holds none is an error, not a check that passes."""
    text = str(location)
    if text.startswith("s3://"):
        documents, keys = _read_bucket(text.removeprefix("s3://").split("/", 1)[0])
    else:
        directory = Path(location)
        if not directory.is_dir():
            raise InvalidInput(f"no directory of checkpoint copies at {directory}")
        documents = [(str(path), path.read_bytes()) for path in sorted(directory.glob("checkpoint-*.json"))]
        keys = {path.stem: [path.read_bytes()] for path in directory.glob("keys/*.pub")}
    if not documents:
        raise InvalidInput(f"no checkpoint copies in {text}")
    found = []
    for where, data in documents:
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise InvalidInput(f"{where} is not a checkpoint document: {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidInput(f"{where} is not a checkpoint document")
        found.append((body, _matching_key(keys.get(str(body.get("key")), []), str(body.get("key")))))
    return sorted(found, key=lambda item: item[0]["size"] if type(item[0].get("size")) is int else -1)


def _matching_key(candidates: list[bytes], kid: str) -> bytes:
    """Of the copies of a public key, the one whose id is `kid` (the id is a hash of the key, so a key
    put there later under the same name cannot pass for it); else any, which then fails the check."""
    from cryptography.hazmat.primitives import serialization

    for pem in candidates:
        try:
            public = serialization.load_pem_public_key(pem)
        except ValueError:
            continue
        if isinstance(public, Ed25519PublicKey) and key_id(public) == kid:
            return pem
    return candidates[0] if candidates else b""


def _read_bucket(bucket: str) -> tuple[list[tuple[str, bytes]], dict[str, list[bytes]]]:
    """Every version of every copy: object lock keeps each version from deletion, but anyone allowed to
    write could add a newer version (or a delete marker) over a checkpoint to hide it. Reading every
    version, hidden ones included, means each checkpoint ever copied is checked."""
    from botocore.exceptions import BotoCoreError, ClientError

    documents: list[tuple[str, bytes]] = []
    keys: dict[str, list[bytes]] = {}
    try:
        client = s3_client()
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=S3_PREFIX):
            for version in page.get("Versions", []):
                name, vid = version["Key"], version["VersionId"]
                data = client.get_object(Bucket=bucket, Key=name, VersionId=vid)["Body"].read()
                if name.startswith(S3_KEYS_PREFIX):
                    keys.setdefault(name.removeprefix(S3_KEYS_PREFIX).removesuffix(".pub"), []).append(data)
                else:
                    documents.append((f"s3://{bucket}/{name} (version {vid})", data))
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable(f"cannot read checkpoint copies from s3://{bucket}: {exc}") from exc
    return documents, keys
