"""Reading an export bundle (spec section 5: a directory, .zip or .tar.gz) and verifying it whole."""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.format.checkpoint import key_id
from audit.format.errors import VerificationError
from audit.format.jcs import integer, read_json, unparsable
from audit.verifier.checking import LogChecker, Result


class BundleError(Exception):
    """The bundle cannot be read at all."""


_NO_CHECKPOINTS = "{path} has no checkpoints.jsonl (a bundle always holds it, empty where there are no checkpoints)"


@contextmanager
def _open_bundle(path: Path) -> Iterator[tuple[IO[bytes], IO[bytes], dict[str, bytes]]]:
    """Yield (entries stream, checkpoints stream, key PEMs by key id) from a directory, zip or tar.gz."""
    if path.is_dir():
        entries = path / "entries.jsonl"
        if not entries.exists():
            raise BundleError(f"{path} has no entries.jsonl")
        keys = {p.stem: p.read_bytes() for p in (path / "keys").glob("*.pub")} if (path / "keys").is_dir() else {}
        cps = path / "checkpoints.jsonl"
        if not cps.exists():
            raise BundleError(_NO_CHECKPOINTS.format(path=path))
        with entries.open("rb") as fe, cps.open("rb") as fc:
            yield fe, fc, keys
        return
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            files = [n for n in zf.namelist() if not n.endswith("/")]
            nested = _nested(files)
            names = {n.split("/", 1)[1] if nested else n: n for n in files}
            if "entries.jsonl" not in names:
                raise BundleError(f"{path} has no entries.jsonl")
            keys = {Path(k).stem: zf.read(v) for k, v in names.items() if k.startswith("keys/") and k.endswith(".pub")}
            if "checkpoints.jsonl" not in names:
                raise BundleError(_NO_CHECKPOINTS.format(path=path))
            with zf.open(names["entries.jsonl"]) as fe, zf.open(names["checkpoints.jsonl"]) as fc:
                yield fe, fc, keys
        return
    try:
        tf = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{path} is not a directory, zip or tar.gz bundle: {exc}") from exc
    with tf:
        tar_files = [m for m in tf.getmembers() if m.isfile()]
        nested = _nested([m.name for m in tar_files])
        members = {m.name.split("/", 1)[1] if nested else m.name: m for m in tar_files}
        if "entries.jsonl" not in members:
            raise BundleError(f"{path} has no entries.jsonl")
        tar_keys: dict[str, bytes] = {}
        for name, member in members.items():
            if name.startswith("keys/") and name.endswith(".pub"):
                fh = tf.extractfile(member)
                tar_keys[Path(name).stem] = fh.read() if fh else b""
        if "checkpoints.jsonl" not in members:
            raise BundleError(_NO_CHECKPOINTS.format(path=path))
        tar_entries = tf.extractfile(members["entries.jsonl"])
        tar_cps = tf.extractfile(members["checkpoints.jsonl"])
        if tar_entries is None or tar_cps is None:
            raise BundleError("entries.jsonl and checkpoints.jsonl must be regular files")
        yield tar_entries, tar_cps, tar_keys


def _nested(names: list[str]) -> bool:
    """Whether every name sits under one top directory (an archive of the bundle directory)."""
    tops = {n.split("/", 1)[0] for n in names if n}
    return len(tops) == 1 and all("/" in n for n in names if not n.endswith("/"))


def trusted_keys(pems: list[bytes]) -> dict[str, bytes]:
    """Public keys given by the one who checks, by key id; a file that is not an Ed25519 key is refused."""
    keys = {}
    for pem in pems:
        try:
            public = serialization.load_pem_public_key(pem)
        except UnsupportedAlgorithm as exc:
            raise BundleError("a trusted key is not an Ed25519 key") from exc
        except ValueError as exc:
            raise BundleError("a trusted key is not a PEM public key") from exc
        if not isinstance(public, Ed25519PublicKey):
            raise BundleError("a trusted key is not an Ed25519 key")
        keys[key_id(public)] = pem
    return keys


def verify_bundle(path: str | Path, trusted: dict[str, bytes] | None = None) -> Result:
    """Verify an export bundle (spec section 5) by every rule of section 6.

    With `trusted` (key id → PEM), checkpoints must be signed by those keys, whatever keys/ holds: a
    bundle from a database rewritten and re-signed with a key of the rewriter's own then fails.
    """
    try:
        return _verify_bundle(Path(path), trusted)
    except RecursionError:
        raise  # every parse catches it; one escaping is a bug to see, not a damaged archive
    except (zipfile.BadZipFile, zlib.error, EOFError, tarfile.TarError, NotImplementedError, RuntimeError) as exc:
        # A damaged or encrypted archive, found while streaming it: it cannot be read, which is not a
        # failed check of what it holds.
        raise BundleError(f"{path}: the archive is damaged or cannot be read: {exc!r}") from exc


def _verify_bundle(path: Path, trusted: dict[str, bytes] | None) -> Result:
    checker = LogChecker()
    with _open_bundle(path) as (entries, checkpoints, bundle_keys):
        keys = bundle_keys if trusted is None else trusted
        last_size = -1
        for number, line in enumerate(checkpoints, start=1):
            try:
                cp = read_json(line.decode("utf-8"))  # a blank line, too, is not a checkpoint
            except (ValueError, RecursionError) as exc:
                checker.fail_checkpoint(None, VerificationError("checkpoint.parse",
                                                                f"line {number}: {unparsable(line, exc)}"))
                break
            if not isinstance(cp, dict):
                checker.fail_checkpoint(None, VerificationError("checkpoint.members",
                                                                f"line {number}: a checkpoint is a JSON object"))
                break
            size = integer(cp.get("size"))
            if type(size) is int and 0 <= size <= last_size:
                checker.fail_checkpoint(size, VerificationError("checkpoint.order", "sizes must increase"))
                break
            last_size = size if type(size) is int else last_size
            key = cp.get("key")
            pem = keys.get(key) if isinstance(key, str) else b""  # not a string: the shape check names it
            if pem is None:
                why = f"keys/{key}.pub missing" if trusted is None else f"signed by key {key}, not a trusted one"
                checker.fail_checkpoint(size, VerificationError("checkpoint.key", why))
                break
            checker.add_checkpoint(cp, pem)
            if checker.failed:
                if checker.result.failed_checkpoint_size is None:  # no size to name it by: its line does
                    checker.result.message = f"checkpoints.jsonl line {number}: {checker.result.message}"
                break
        result, feed = checker.result, checker.feed
        for line in entries:
            if not result.ok:
                break
            feed(line)  # "every line parses": a blank one does not
        if not result.ok:
            # An archive's checksum is checked only once a file is read to its end: a failure that damage
            # caused is then "cannot read" (exit 2), not a verdict on entries nobody exported as read.
            for stream in (checkpoints, entries):
                while stream.read(1 << 20):
                    pass
    return checker.finish()
