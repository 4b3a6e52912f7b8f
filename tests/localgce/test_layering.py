"""Handlers sit below the server: no module of localgce but the entry points imports server.py."""

from __future__ import annotations

import ast
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
