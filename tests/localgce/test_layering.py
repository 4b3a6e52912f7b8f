"""Handlers sit below the server: no module of localgce but the entry points imports server.py."""

from __future__ import annotations

import ast
import graphlib
import pathlib

import localgce

PACKAGE = pathlib.Path(localgce.__file__).parent
ENTRY_POINTS = {"server.py", "testing.py", "__main__.py"}


def _imports_server(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [a.name for a in node.names]
            if node.level and (node.module == "server" or (node.module is None and "server" in names)):
                return True
            if (node.module or "").endswith("localgce.server"):
                return True
        if isinstance(node, ast.Import) and any(a.name == "localgce.server" for a in node.names):
            return True
    return False


def test_no_handler_imports_the_server():
    offenders = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
                 if p.name not in ENTRY_POINTS and _imports_server(p)]
    assert offenders == [], f"these import localgce.server (use localgce.responses): {offenders}"


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(name):
    return (PACKAGE.parent.joinpath(*name.split(".")) / "__init__.py").exists()


def _exists(name):
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _edges(path):
    """The localgce modules ``path`` imports, anywhere in the file (a function-level import is an
    edge too: it runs as soon as the function does). Read with ast; nothing is imported."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "localgce")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "localgce":
                continue
            for alias in node.names:  # `from . import instances` names a module, `from . import handles` not
                sub = f"{target}.{alias.name}"
                out.add(sub if _exists(sub) else target)
    out.discard(name)
    return out


def import_graph():
    """{module: {modules it imports}} for every module of localgce."""
    return {_module_name(p): _edges(p) for p in sorted(PACKAGE.rglob("*.py"))}


def find_cycle(graph):
    """One import cycle as [a, b, ..., a] (a imports b), or None: the standard library's topological sort finds it."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return exc.args[1][::-1]  # graphlib lists each module before the one that imports it
    return None


def test_import_graph_sees_the_known_edges():
    """The graph reads relative, package-level and function-level imports (so the cycle test below
    cannot pass by reading nothing)."""
    graph = import_graph()
    assert "localgce.resources" in graph["localgce.resources.disks"]  # from . import handles
    assert "localgce.errors" in graph["localgce.resources"]  # from .. import errors
    assert "localgce.resources" in graph["localgce.server"]  # a function-level or top-level import


def test_localgce_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "localgce has an import cycle: " + " -> ".join(cycle or [])


def test_references_and_the_health_prober_import_no_resource_handler():
    """What resources know of each other goes through references.py, and the prober is given its
    sources and converge step: neither may import a handler (that is how the cycle came)."""
    graph = import_graph()
    for module in ("localgce.references", "localgce.health_probes"):
        handlers = sorted(m for m in graph[module] if m.startswith("localgce.resources"))
        assert handlers == [], f"{module} imports {handlers}"
