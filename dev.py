#!/usr/bin/env python3
"""Set up the virtualenv from the pinned constraints, then run the demo, the server or the tests.

    python3 dev.py demo     # set up, run the end-to-end governance demo, then serve on :8000
    python3 dev.py test     # set up, then run the test suite (extra args go to pytest)
    python3 dev.py screenshots  # refresh docs/img from the demo (browser test + report pages)

Needs only Python 3.11 on the machine; everything else is installed into .venv.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".modelgov-installed"


def _say(text: str) -> None:
    print(f"==> {text}", flush=True)


def ensure_env() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"modelgov needs Python 3.11; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PY.exists():
        return
    if not PY.exists():
        _say("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    _say("installing dependencies (pinned by constraints.txt)")
    subprocess.run(
        [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[dev]"],
        check=True,
    )
    STAMP.write_text(wanted)


def run(*args: str, env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(PY), *args], cwd=ROOT, env={**os.environ, **(env or {})})


def screenshots() -> int:
    """Pictures for the README, made from the demo so they stay true."""
    import shutil

    code = run("-m", "pytest", "-q", "tests/test_demo.py")
    if code:
        return code
    img = ROOT / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    for name in ("approval-page.png", "validator-queue.png", "auditor-log.png"):
        shutil.copy(ROOT / "test-artifacts" / name, img / name)
    media = Path(os.environ.get("MODELGOV_VAR_DIR", ROOT / "var")) / "media" / "reports"
    for kind, number, page in (("bias", 1, 2), ("explainability", 2, 3)):
        pdfs = sorted(media.glob(f"{number}-*.pdf"))
        if not pdfs:
            print(f"run `python3 dev.py demo` first to render the {kind} report page")
            continue
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", str(page), "-l", str(page), "-singlefile",
                        str(pdfs[0]), str(img / f"report-{kind}")], check=True)
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "serve", "setup", "screenshots"}:
        print(__doc__)
        return 2
    ensure_env()
    command, rest = argv[0], argv[1:]
    if command == "setup":
        return 0
    if command == "test":
        return run("-m", "pytest", *rest)
    if command == "screenshots":
        return screenshots()
    code = run("manage.py", "migrate", "--no-input", "-v", "0")
    if code:
        return code
    if command == "demo":
        code = run("manage.py", "demo", *rest)
        if code:
            return code
    _say("serving http://127.0.0.1:8000/admin/ and http://127.0.0.1:8000/api/docs/ (Ctrl-C to stop)")
    return run("manage.py", "runserver", "127.0.0.1:8000", "--noreload")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
