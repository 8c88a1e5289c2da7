"""The checkpoint signing key: Ed25519 from the environment or a file (made once under var/), never the database."""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit.format.checkpoint import key_id
from config.files import write_once


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_pem_or_raw(data: bytes) -> Ed25519PrivateKey:
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(text, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured("the audit signing key must be an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY must be a PEM Ed25519 key or 32 raw bytes in base64")
    return Ed25519PrivateKey.from_private_bytes(raw)


def _create_key_file(path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_once(path, pem, 0o600)  # if another process made it first, theirs is used


@lru_cache(maxsize=1)
def signing_key() -> Ed25519PrivateKey:
    if settings.AUDIT_SIGNING_KEY:
        return _load_pem_or_raw(settings.AUDIT_SIGNING_KEY.encode())
    path = Path(settings.AUDIT_SIGNING_KEY_FILE)
    if not path.exists():
        _create_key_file(path)
    key = _load_pem_or_raw(path.read_bytes())
    _remember_public_key(key.public_key())
    return key


def _keys_dir() -> Path:
    return Path(settings.AUDIT_SIGNING_KEY_FILE).parent / "public"


def _remember_public_key(public_key: Ed25519PublicKey) -> None:
    """Keep every public key ever used beside the private key, so rotation never orphans a checkpoint."""
    write_once(_keys_dir() / f"{key_id(public_key)}.pub", public_pem(public_key), 0o644)


def public_key_pem(kid: str) -> bytes:
    """The PEM of the public key with this id: the current one, or one kept from before a rotation."""
    from audit.models import SigningKey

    row = SigningKey.objects.filter(key_id=kid).first()
    if row is not None:
        return row.public_pem.encode()
    current = signing_key().public_key()
    if key_id(current) == kid:
        return public_pem(current)
    stored = _keys_dir() / f"{kid}.pub"
    if stored.exists():
        return stored.read_bytes()
    raise KeyError(f"no public key with id {kid}")


def current_key_id() -> str:
    return key_id(signing_key().public_key())


def sign(message: bytes) -> tuple[str, str]:
    """Sign with the current key; returns (key id, standard base64 signature)."""
    key = signing_key()
    return key_id(key.public_key()), base64.b64encode(key.sign(message)).decode()
