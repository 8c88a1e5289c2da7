"""The house's imports, read from the source with `ast`: no import cycle among our modules, and none against the
layering audit <- registry <- reports <- governance <- monitoring <- channels (docs: ../shared/STYLE.md, issue 21).

Every import counts, at the top of a module or inside a function: a function-local import that closes a cycle
still is one, only hidden from Python's import machinery until the function runs."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("audit", "registry", "reports", "governance", "monitoring", "config", "cli", "demo")
# Lowest first: a module may import its own layer and those below it, never one above.
LAYERS = ("audit", "registry", "reports", "governance", "monitoring")
# The channels of each app call any service below them (issue 21: each app's api/, admin.py, management/).
CHANNELS = ("api", "admin", "management")

# Cycles known and not yet broken: none since issue 21 (the verifier became a package on the format core, the
# writer's permits moved to audit.permits). The test fails on any cycle not listed, on a listed one growing, and on
# a listed one gone (then delete it here, so it cannot come back).
KNOWN_CYCLES: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path] | set[str]) -> str | None:
    """The module of ours `name` lands in (the longest importable prefix), or None for anything else."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(source: str, module: str, is_package: bool, modules: dict[str, Path] | set[str]) -> set[str]:
    """The modules of ours that `module` imports anywhere in its source (functions and TYPE_CHECKING included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(t for a in node.names if (t := _resolve(a.name, modules)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package holding `module`
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source_module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source_module = node.module or ""
            for alias in node.names:
                submodule = f"{source_module}.{alias.name}"  # `from reports import builders` imports a module
                target = submodule if submodule in modules else _resolve(source_module, modules)
                if target:
                    found.add(target)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: imports_of(path.read_text(), name, path.name == "__init__.py", modules)
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def _layer(module: str) -> int | None:
    """The layer of a module (its index in LAYERS), or None for a channel or a module outside the four apps."""
    parts = module.split(".")
    if parts[0] not in LAYERS or (len(parts) > 1 and parts[1] in CHANNELS):
        return None
    return LAYERS.index(parts[0])


def test_the_graph_sees_function_local_relative_and_submodule_imports() -> None:
    modules = {"reports", "reports.services", "reports.tasks", "reports.builders", "audit", "audit.writer"}
    source = (
        "from audit import writer\n"
        "from . import builders\n"
        "import json\n"
        "def later():\n"
        "    from reports.tasks import compute_report\n"
        "    import audit.writer.thing\n"
    )
    assert imports_of(source, "reports.services", False, modules) == {"audit.writer", "reports.builders",
                                                                      "reports.tasks"}
    graph = {"reports.services": {"reports.tasks"}, "reports.tasks": {"reports.services"}, "reports.builders": set()}
    assert cycles(graph) == [frozenset({"reports.services", "reports.tasks"})]


def test_no_import_cycle_but_the_known_ones() -> None:
    found = set(cycles(import_graph()))
    new = [sorted(c) for c in found - KNOWN_CYCLES]
    assert not new, f"import cycles (break them; a function-local import does not): {new}"
    gone = [sorted(c) for c in KNOWN_CYCLES - found]
    assert not gone, f"these known cycles are broken or changed: delete them from KNOWN_CYCLES: {gone}"


def test_no_import_against_the_layers() -> None:
    against = []
    for module, targets in sorted(import_graph().items()):
        layer = _layer(module)
        if layer is None:
            continue
        against += [f"{module} -> {t}" for t in sorted(targets)
                    if t.split(".")[0] in LAYERS and LAYERS.index(t.split(".")[0]) > layer]
    assert not against, f"imports against audit <- registry <- reports <- governance: {against}"


def test_web_processes_do_not_load_the_builders() -> None:
    # reports.tasks imports reports.compute (and through it the builders and their ML and PDF libraries) only when a
    # task runs; a web process, which imports the task module to send tasks, never pays for them.
    code = ("import sys, django; django.setup(); import config.urls, reports.tasks, monitoring.tasks; "
            "heavy = ('reports.compute', 'reports.builders', 'shap', 'fairlearn'); "
            "print(sorted(m for m in heavy if m in sys.modules))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# The writer's permits (audit.permits) are read by the guards below the writer; granting the save permit
# (`writing`) or telling SQLite's row guards a row is recorded (`note`) is the writer's (and auth's handlers', which
# record auth's writes). The services ask the writer for the two permits they may hold (writer.permit_append,
# writer.permit_governed_writes).
PERMITS_READERS = {"audit.writer", "audit.governed", "audit.models", "audit.row_guards", "audit.auth_events"}
PERMITS_GRANTED_BY = {"writing": {"audit.writer"}, "note": {"audit.writer", "audit.governed", "audit.auth_events"}}


def _permits_names_used(source: str) -> set[str]:
    used: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "audit.permits":
            used.update(a.name for a in node.names)
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "permits"):
            used.add(node.attr)
    return used


def test_only_the_audit_room_reads_the_writers_permits_and_only_the_writer_grants_its_save_permit() -> None:
    graph = import_graph()
    assert {m for m, targets in graph.items() if "audit.permits" in targets} <= PERMITS_READERS
    for module, path in _modules().items():
        used = _permits_names_used(path.read_text())
        for name, allowed in PERMITS_GRANTED_BY.items():
            assert name not in used or module in allowed, f"{module} uses audit.permits.{name}"
