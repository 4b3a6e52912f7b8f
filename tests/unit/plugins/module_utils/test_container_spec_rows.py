"""The container spec is declared once, by the rows of container_spec: everything made from them
stays equal to them (the module's doc fragment, the role's argument_specs.yml,
the container spec guide docs/docsite/rst/guide_container_spec.rst)."""

import importlib.util
import os
import re

import pytest
import yaml
from ansible_collections.gce.cos.plugins.doc_fragments.container_spec import ModuleDocFragment
from ansible_collections.gce.cos.plugins.module_utils import container_spec as cs

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def _generate():
    spec = importlib.util.spec_from_file_location("generate", os.path.join(ROOT, "tests", "generate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("rel", ["plugins/doc_fragments/container_spec.py",
                                 "roles/cos_deploy_group/meta/argument_specs.yml",
                                 "docs/docsite/rst/guide_container_spec.rst"])
def test_what_is_made_from_the_rows_is_current(rel):
    assert rel not in _generate().stale(), "%s drifted from the rows of container_spec.py: run tests/generate.py" % rel


def _same_shape(documented, spec, nested_key, path=""):
    """A documented option tree says the same types, elements, choices and suboptions as an argument spec."""
    assert set(documented) == set(spec), path
    for name, doc in documented.items():
        option = spec[name]
        where = path + name
        assert doc["type"] == option["type"], where
        assert doc.get("elements") == option.get("elements"), where
        assert doc.get("choices") == option.get("choices"), where
        assert doc["description"], where
        if "options" in option:
            _same_shape(doc[nested_key], option["options"], nested_key, where + ".")
        else:
            assert nested_key not in doc, where


def test_the_doc_fragment_documents_the_argument_spec_of_both_forms():
    single = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert "containers" not in single  # the list form is its own fragment, not a second copy of the rows
    _same_shape(single, cs.argument_spec(), "suboptions")
    containers = yaml.safe_load(ModuleDocFragment.CONTAINERS)["options"]
    assert list(containers) == ["containers"]
    _same_shape(containers["containers"]["suboptions"], cs.argument_spec(), "suboptions")


def test_cos_deploy_leaves_its_containers_to_the_rows():
    """cos_deploy's argument spec does not check container fields: its first task does, with container_spec, so that
    an unknown field is reported with its index and a did-you-mean hint, together with every other error."""
    with open(os.path.join(ROOT, "roles", "cos_deploy", "meta", "argument_specs.yml")) as f:
        specs = yaml.safe_load(f)
    containers = specs["argument_specs"]["main"]["options"]["cos_deploy_containers"]
    assert containers["type"] == "list" and containers["elements"] == "dict"
    assert "options" not in containers and "default" not in containers


@pytest.mark.parametrize("role", ["cos_deploy_group"])
def test_the_role_checks_containers_with_the_rows(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as f:
        specs = yaml.safe_load(f)
    containers = specs["argument_specs"]["main"]["options"][role + "_containers"]
    assert containers["type"] == "list" and containers["elements"] == "dict"
    _same_shape(containers["options"], cs.argument_spec(), "options")
    # The role needs name and image in every entry; the module not (state: absent takes names only).
    assert [k for k, v in containers["options"].items() if v.get("required")] == ["name", "image"]


def test_the_docs_table_lists_every_row_in_order():
    with open(os.path.join(ROOT, "docs", "docsite", "rst", "guide_container_spec.rst")) as f:
        text = f.read()
    generate = _generate()
    tables = text[text.index(generate.TABLE_BEGIN):text.index(generate.TABLE_END)]
    fields = re.findall(r"^   \* - ``(\w+)``$", tables, re.M)
    assert fields == [r.name for r in cs.ROWS + cs.VOLUME_ROWS + cs.HEALTHCHECK_ROWS + cs.READINESS_ROWS]


def test_every_top_level_row_normalises_and_the_canonical_form_has_every_field():
    """Every field, but those left out while unset (omit_unset: readiness, network, order, drain, added later);
    a container with ports and a readiness probe is start-first, so it has them all."""
    assert all(row.normalise is not None for row in cs.ROWS)
    assert all(row.normalise is None for row in cs.VOLUME_ROWS + cs.HEALTHCHECK_ROWS + cs.READINESS_ROWS)
    assert [row.name for row in cs.ROWS if row.omit_unset] == ["readiness", "network", "order", "drain"]
    assert list(cs.validate({"name": "web", "image": "nginx"})) == [r.name for r in cs.ROWS if not r.omit_unset]
    probe = {"type": "tcp", "port": 80}
    assert list(cs.validate({"name": "web", "image": "nginx", "ports": [80], "readiness": probe})) == list(cs.FIELDS)


def test_the_renderer_takes_docker_options_from_the_rows():
    from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit

    spec = cs.validate({"name": "web", "image": "nginx", "user": "1000", "memory": "64m", "tty": True,
                        "cap_add": ["NET_ADMIN"], "labels": {"a": "b"}})
    argv = container_unit.docker_argv(spec)
    for field, value in (("user", "1000"), ("memory", "64m"), ("cap_add", "NET_ADMIN"), ("labels", "a=b"),
                         ("name", "web")):
        flag = cs.ROW[field].flag
        assert argv[argv.index(flag) + 1] == value
    assert cs.ROW["tty"].flag in argv
