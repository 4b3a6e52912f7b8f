"""The claim and the tests agree: meta/runtime.yml and the README name the ansible-core lines that are
still supported (2.19, 2.20, 2.21), and `make test` runs sanity, units and integration on each of
them, each in a venv with a controller Python that core supports."""

import os
import re

import yaml
from packaging.specifiers import SpecifierSet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# ansible-core line -> (the Makefile's venv, its Python, its requirements file); FACTS.md §12.
MATRIX = {
    "2.19": (".venv311", "3.11", "requirements-dev-py311.txt"),
    "2.20": (".venv313", "3.13", "requirements-dev-py313.txt"),
    "2.21": (".venv", "3.12", "requirements-dev.txt"),
}
CONTROLLER_PYTHONS = {"2.19": ("3.11", "3.12", "3.13"), "2.20": ("3.12", "3.13", "3.14"),
                      "2.21": ("3.12", "3.13", "3.14")}
END_OF_LIFE = ("2.15", "2.16", "2.17", "2.18")


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def make_recipe(target):
    """The recipe lines of a Makefile target."""
    m = re.search(r"^%s:.*\n((?:\t.*\n)+)" % re.escape(target), read("Makefile"), re.M)
    assert m, target
    return m.group(1)


def test_requires_ansible_names_exactly_the_supported_lines():
    spec = SpecifierSet(yaml.safe_load(read("meta/runtime.yml"))["requires_ansible"])
    assert [line for line in (*END_OF_LIFE, *MATRIX) if spec.contains(line + ".0")] == list(MATRIX)


def test_the_readme_names_the_same_lines():
    readme = read("README.md")
    assert "ansible-core 2.19, 2.20 or 2.21" in readme
    assert not re.search(r"ansible-core 2\.1[5-8]|2\.1[5-8] or newer", readme)


def test_each_line_has_a_pinned_venv_with_a_python_it_supports():
    for core, (venv, python, requirements) in MATRIX.items():
        assert python in CONTROLLER_PYTHONS[core]
        pins = re.findall(r"^ansible-core==(\S+)$", read(requirements), re.M)
        assert len(pins) == 1 and pins[0].startswith(core + "."), (requirements, pins)
        assert re.search(r"^\$\(%s\)/\.stamp:" % {".venv": "VENV", ".venv311": "VENV311", ".venv313": "VENV313"}[venv],
                         read("Makefile"), re.M), venv


def test_make_test_runs_sanity_units_and_integration_on_each_line():
    variables = {".venv": "$(VENV)", ".venv311": "$(VENV311)", ".venv313": "$(VENV313)"}
    for core, (venv, python, _req) in MATRIX.items():
        tool = "$(CURDIR)/%s/bin/ansible-test" % variables[venv]
        assert "%s sanity --venv --python %s" % (tool, python) in make_recipe("sanity"), core
        assert "%s units --local --python %s" % (tool, python) in make_recipe("units"), core
        assert "%s --python %s" % (tool, python) in make_recipe("integration"), core
    # `make test` runs its lanes; the checks lane lists the suites.
    makefile = read("Makefile")
    assert re.search(r"^test: .*$\n\t@\$\(MAKE\) .*\btest-checks\b", makefile, re.M)
    assert "\t@$(MAKE) --no-print-directory -j1 $(TEST_CHECKS)" in make_recipe("test-checks")
    goals = re.search(r"^TEST_CHECKS := (.*)$", makefile, re.M).group(1).split()
    assert {"sanity", "units", "integration"} <= set(goals)


def test_no_sanity_ignore_file():
    assert [f for f in os.listdir(os.path.join(ROOT, "tests", "sanity")) if f.startswith("ignore-")] == []


def test_ansible_lint_knows_the_newer_lines():
    config = yaml.safe_load(read(".ansible-lint"))
    assert config["supported_ansible_also"] == ["2.20.", "2.21."]
    assert "meta/runtime.yml" in make_recipe("lint-ansible")


def test_the_roles_claim_the_same_floor():
    floor = min(MATRIX, key=lambda line: tuple(int(x) for x in line.split(".")))
    for role in ("cos_deploy", "cos_deploy_group"):
        meta = yaml.safe_load(read("roles/%s/meta/main.yml" % role))
        assert meta["galaxy_info"]["min_ansible_version"] == floor, role
