"""Run the standalone verifier's command line as an outsider would: a fresh interpreter, no Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_verifier(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m audit.verifier ARGS`, failing if it imported Django."""
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import runpy; sys.argv = ['verifier', *{list(args)!r}]\n"
        "code = 0\ntry:\n runpy.run_module('audit.verifier', run_name='__main__')\n"
        "except SystemExit as e:\n code = e.code\n"
        "assert 'django' not in sys.modules, 'the verifier imported Django'\nsys.exit(code)"
    )
    return subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, cwd=cwd)
