# -*- coding: utf-8 -*-
"""Issue 23 item 5: the layers of module_utils are visible in the tree and docs/dev/internals.md shows them as they are.

Read from the source tree with ast (nothing is imported), so each test fails when a new package or module is
missing from internals.md, a private file lacks its header, a layer imports upwards, or an import cycle appears.
"""

import ast
import graphlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[4]
PLUGINS = ROOT / "plugins"
MODULE_UTILS = PLUGINS / "module_utils"
INTERNALS = ROOT / "docs" / "dev" / "internals.md"
BASE = "ansible_collections.gce.cos.plugins"
PRIVATE_HEADER = "is PRIVATE to the gce.cos collection"
# The layers, bottom up: a package imports only from its own layer and the ones below.
GOOGLE, VM, HELPER = "_gcp", "_vm", "_api_helper"


def modules():
    """{dotted name below plugins: path} of every Python file of plugins/."""
    out = {}
    for path in sorted(PLUGINS.rglob("*.py")):
        parts = list(path.relative_to(PLUGINS).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def edges(path, known):
    """The plugins modules ``path`` imports (anywhere in the file: a function-level import runs too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + ["%s.%s" % (node.module, a.name) for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith(BASE + "."):
                short = name[len(BASE) + 1:]
                if short in known:
                    out.add(short)
    return out


def graph():
    known = modules()
    return {name: edges(path, known) - {name} for name, path in known.items()}


def find_cycle(graph):
    """One import cycle as [a, b, ..., a] (a imports b), or None: the standard library's topological sort finds it."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return exc.args[1][::-1]  # graphlib lists each module before the one that imports it
    return None


def test_every_package_and_module_of_module_utils_is_in_internals_md():
    text = INTERNALS.read_text()
    missing = []
    for path in sorted(MODULE_UTILS.rglob("*")):
        rel = path.relative_to(MODULE_UTILS).as_posix()
        if path.is_dir() and "__pycache__" not in rel:
            wanted = "`%s/`" % rel
        elif path.suffix == ".py" and path.name != "__init__.py":
            wanted = "`%s`" % rel
        else:
            continue
        if wanted not in text:
            missing.append(wanted)
    assert missing == [], "docs/dev/internals.md does not show these parts of plugins/module_utils: %s" % missing


def test_internals_md_names_no_module_that_is_gone():
    text = INTERNALS.read_text()
    named = set(re.findall(r"`(_[a-z_]+/[a-z_]+\.py|[a-z_]+\.py)`", text))
    gone = sorted(n for n in named if not (MODULE_UTILS / n).exists() and "/" in n)
    gone += sorted(n for n in named if "/" not in n and not (MODULE_UTILS / n).exists()
                   and not list(MODULE_UTILS.glob("*/" + n)) and n not in ("conftest.py",))
    assert gone == [], "docs/dev/internals.md names module_utils files that do not exist: %s" % gone


def test_every_private_file_says_it_is_internal():
    lacking = []
    for path in sorted(MODULE_UTILS.glob("_*/*.py")):
        if path.name == "__init__.py" and not path.read_text().strip():
            continue
        if PRIVATE_HEADER not in "\n".join(path.read_text().splitlines()[:8]):
            lacking.append(path.relative_to(MODULE_UTILS).as_posix())
    assert lacking == [], "these private files lack the header %r: %s" % (PRIVATE_HEADER, lacking)


def test_no_import_cycle_in_plugins():
    assert find_cycle(graph()) is None


def test_the_graph_sees_the_known_edges():
    deps = graph()
    assert "module_utils.%s.gcp_client" % GOOGLE in deps["module_utils.%s.gcp_module" % GOOGLE]
    assert "module_utils.%s.vm_contract" % VM in deps["module_utils.%s.container_unit" % VM]


def test_the_layers_import_only_downwards():
    """The VM contract is a leaf every layer reads. The shared Google layer imports no engine and nothing of
    the VM layer but the contract (gcp_module hands calls to the fast path, which lives beside it); the VM
    layer imports no Google code."""
    deps = graph()
    contract = "module_utils.%s.vm_contract" % VM
    assert deps[contract] == set()
    upward = []
    for name, targets in deps.items():
        layer = name.split(".")[1] if name.startswith("module_utils.") else None
        for target in targets:
            top = target.split(".")[1] if target.startswith("module_utils.") else None
            if layer == GOOGLE and top is not None and top.startswith("_") and top not in (GOOGLE, HELPER) \
                    and target != contract:
                upward.append((name, target))
            if layer == VM and top == GOOGLE:
                upward.append((name, target))
    assert upward == []


def test_find_cycle_names_the_cycle_in_import_order():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    cycle = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycle[0] == cycle[-1] and len(cycle) == 4
    assert all(cycle[i + 1] in {"a": {"b"}, "b": {"c"}, "c": {"a"}}[cycle[i]] for i in range(3))
