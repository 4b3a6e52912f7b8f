# -*- coding: utf-8 -*-
"""Issue 23 item 4: the role planners live in module_utils/_deploy behind thin filters, with one name rule.

Read from the source tree (ast and text), so each test fails when a second copy or a cross-filter import comes back.
"""

import ast
import pathlib

from ansible_collections.gce.cos.plugins.module_utils import container_spec
from ansible_collections.gce.cos.plugins.module_utils._gcp import gcp_names
from ansible_collections.gce.cos.plugins.module_utils._vm import vm_contract

PLUGINS = pathlib.Path(__file__).resolve().parents[4] / "plugins"
COLLECTION = "ansible_collections.gce.cos.plugins."
RFC1035 = "[a-z]([-a-z0-9]{0,61}[a-z0-9])?"


def imports(path):
    """(module, name) of every `from X import name` and (module, None) of every `import X` in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            out.extend((alias.name, None) for alias in node.names)
    return out


def test_one_name_re_owned_by_vm_contract():
    holders = sorted(str(p.relative_to(PLUGINS)) for p in PLUGINS.rglob("*.py") if RFC1035 in p.read_text())
    assert holders == ["module_utils/_vm/vm_contract.py"]
    assert gcp_names.NAME_RE is vm_contract.NAME_RE and container_spec.NAME_RE is vm_contract.NAME_RE


def test_no_filter_imports_another_filter_or_a_private_name():
    for path in sorted((PLUGINS / "filter").glob("*.py")):
        for module, name in imports(path):
            assert not module.startswith(COLLECTION + "filter"), (path.name, module)
            assert not (name or "").startswith("_"), (path.name, module, name)


def test_the_planner_filters_are_thin_wrappers_of_module_utils_deploy():
    for name, planner in (("cos_deploy_plan", "vm"), ("cos_deploy_group_plan", "group")):
        path = PLUGINS / "filter" / ("%s.py" % name)
        assert (COLLECTION + "module_utils._deploy", planner) in imports(path)
        body = ast.parse(path.read_text()).body
        # No logic of its own: the filter is planner_filter(NAME, PLANNER.plan), bound to its name.
        assert not [n.name for n in body if isinstance(n, ast.FunctionDef)]
        assert (COLLECTION + "plugin_utils.role_filters", "planner_filter") in imports(path)
        bound = [n for n in body if isinstance(n, ast.Assign) and [t.id for t in n.targets] == [name]]
        expected = ast.parse("planner_filter(%r, %s.plan)" % (name, planner), mode="eval").body
        assert len(bound) == 1 and ast.dump(bound[0].value) == ast.dump(expected)


def test_the_group_engine_takes_the_spec_views_from_container_unit_not_the_container_engine():
    modules = {module for module, _name in imports(PLUGINS / "module_utils" / "_group" / "engine.py")}
    assert COLLECTION + "module_utils._container.task" not in modules


def test_every_file_of_the_private_deploy_package_says_it_is_internal():
    paths = sorted((PLUGINS / "module_utils" / "_deploy").glob("*.py"))
    assert [p.name for p in paths] == ["__init__.py", "checks.py", "group.py", "vm.py"]
    for path in paths:
        assert "PRIVATE to the gce.cos collection" in "".join(path.read_text().splitlines(True)[:6]), path.name


def test_the_deploy_planner_imports_no_controller_code():
    """module_utils may be used by a module on a target: the planner needs nothing of ansible's controller."""
    from ansible_collections.gce.cos.plugins.module_utils._deploy import vm

    modules = {m for p in (PLUGINS / "module_utils" / "_deploy").glob("*.py") for m, _n in imports(p)}
    assert not [m for m in modules if m.startswith(("ansible.errors", "ansible.plugins", "ansible.template"))]
    assert vm.plan.__module__ == COLLECTION + "module_utils._deploy.vm"
