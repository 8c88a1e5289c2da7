"""The standalone verifier runs as a regulator runs it: a bare virtualenv holding only `rfc8785` and `cryptography`
(with what they install), and of modelgov only `audit/format/` and `audit/verifier/` copied beside it."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from tests.audit.test_receipts import PEM, make_receipt
from tests.audit.test_verifier import make_checkpoint, make_entries, write_bundle

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rfc8785", "cryptography")  # what docs/audit-log.md tells the outsider to install


def _installed_with(names: tuple[str, ...]) -> list[importlib.metadata.Distribution]:
    """The distributions `pip install NAMES` brings: NAMES and their requirements on this interpreter."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        dist = importlib.metadata.distribution(todo.pop())
        name = dist.metadata["Name"].lower()
        if name in found:
            continue
        found[name] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(found.values())


def _bare_venv(where: Path) -> Path:
    venv.create(where, with_pip=False, symlinks=True)
    python = where / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for dist in _installed_with(PACKAGES):
        for file in dist.files or []:
            if file.parts[0] == ".." or file.suffix == ".pyc":
                continue  # scripts outside site-packages, caches
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(Path(str(file.locate())).resolve())
    return python


def _verifier_only(where: Path) -> Path:
    """The verifier as it is handed out: `audit/__init__.py`, `audit/format/`, `audit/verifier/`, nothing else."""
    (where / "audit").mkdir(parents=True)
    shutil.copy(ROOT / "audit" / "__init__.py", where / "audit" / "__init__.py")
    for package in ("format", "verifier"):
        shutil.copytree(ROOT / "audit" / package, where / "audit" / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return where


def _run(python: Path, cwd: Path, *args: Any) -> subprocess.CompletedProcess[str]:
    # -E -s: no PYTHONPATH, no user site; only the virtualenv and the copied verifier (the working directory).
    return subprocess.run([python, "-E", "-s", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})


def test_the_verifier_runs_in_a_bare_virtualenv_with_only_its_two_packages(tmp_path: Path) -> None:
    python = _bare_venv(tmp_path / "venv")
    src = _verifier_only(tmp_path / "src")
    assert _run(python, src, "-c", "import django").returncode != 0, "the bare virtualenv must not hold Django"

    entries = make_entries(12)
    good = write_bundle(tmp_path / "good", entries, [make_checkpoint(entries, 8)])
    ok = _run(python, src, "-m", "audit.verifier", good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK: 12 entries" in ok.stdout and "1 checkpoint(s) verified" in ok.stdout

    entries[4]["changes"]["stage"]["new"] = "production"
    bad = write_bundle(tmp_path / "bad", entries, [])
    failed = _run(python, src, "-m", "audit.verifier", bad)
    assert failed.returncode == 1 and "seq 5" in failed.stdout and "hash.mismatch" in failed.stdout, failed.stdout

    missing = _run(python, src, "-m", "audit.verifier", "--proof", tmp_path / "none.json", "--key", tmp_path / "k")
    assert missing.returncode == 2, missing.stderr

    (tmp_path / "key.pem").write_bytes(PEM)
    receipt = make_receipt(3)
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    checked = _run(python, src, "-m", "audit.verifier", "--receipt", tmp_path / "receipt.json", "--key",
                   tmp_path / "key.pem")
    assert checked.returncode == 0 and checked.stdout.startswith("OK: row 3 of batch 7"), checked.stderr
    receipt["row"]["line"] = receipt["row"]["line"].replace("false", "true")
    (tmp_path / "forged.json").write_text(json.dumps(receipt))
    forged = _run(python, src, "-m", "audit.verifier", "--receipt", tmp_path / "forged.json", "--key",
                  tmp_path / "key.pem")
    assert forged.returncode == 1 and "rule receipt.row" in forged.stdout, forged.stdout + forged.stderr

    loaded = _run(python, src, "-c", "import json, sys, audit.verifier, audit.verifier.__main__; "
                  "print(json.dumps(sorted(sys.modules)))")
    assert loaded.returncode == 0, loaded.stderr
    modules = json.loads(loaded.stdout)
    ours = {m for m in modules if m == "audit" or m.startswith("audit.")}
    assert all(m in ("audit", "audit.format", "audit.verifier") or m.startswith(("audit.format.", "audit.verifier."))
               for m in ours), ours
    others = {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names) - {"audit", "__main__"}
    assert others <= {"rfc8785", "cryptography", "_cffi_backend", "_openssl"}, others
