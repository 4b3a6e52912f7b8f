"""Galaxy-ready: galaxy-importer (what galaxy.ansible.com and Automation Hub run on upload) passes on
the built artifact without a warning, antsibull-docs lints the docs the docsite renders, the
changelog is released by antsibull-changelog and the release flow takes new fragments, and the
execution environment's context holds the collection's Python and system dependencies."""

import json
import os
import re
import shutil
import subprocess

import yaml

from conftest import ROOT, VENV_BIN, tool_env


def tool(name):
    return os.path.join(VENV_BIN, name)


def lines(path):
    with open(path) as f:
        return [x.strip() for x in f if x.strip() and not x.startswith("#")]


# -- galaxy-importer ----------------------------------------------------------------------------
def test_galaxy_importer_passes_without_warnings(artifact, tmp_path):
    env = tool_env(tmp_path, GALAXY_IMPORTER_CONFIG=os.path.join(ROOT, "tests", "ecosystem", "galaxy-importer.cfg"),
                   HOME=str(tmp_path))
    proc = subprocess.run([tool("python"), "-m", "galaxy_importer.main", str(artifact)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    # The checks ran: ansible-doc on every plugin, ansible-lint, the changelog.
    assert "Getting doc strings via ansible-doc" in out and "Linting collection via ansible-lint" in out, out
    assert re.findall(r"^(?:WARNING|ERROR).*$", out, re.M) == [], out[-6000:]
    with open(tmp_path / "importer_result.json") as f:
        result = json.load(f)
    assert result["requires_ansible"] == ">=2.19.0"
    names = {(c["content_type"], c["name"]) for c in result["contents"]}
    assert {("module", "cos_container"), ("inventory", "cos_vms"), ("filter", "cos_deploy_plan"),
            ("role", "cos_deploy")} <= names
    # Every plugin has its docs (ansible-doc ran on it).
    plugins = [c for c in result["contents"] if c["content_type"] in ("module", "inventory", "filter")]
    assert len(plugins) >= 12 and all(c["description"] for c in plugins), plugins


def test_no_empty_ignore_file_in_the_artifact(artifact):
    listing = subprocess.run(["tar", "tzvf", str(artifact)], capture_output=True, text=True, check=True).stdout
    assert not re.search(r"tests/sanity/ignore-[0-9.]+\.txt", listing)
    assert "changelogs/changelog.yaml" in listing and "CHANGELOG.rst" in listing


# -- antsibull-docs -----------------------------------------------------------------------------
def test_antsibull_docs_lint_collection_docs(collection_copy):
    proc = subprocess.run([tool("antsibull-docs"), "lint-collection-docs", "--plugin-docs", "."], cwd=collection_copy,
                          env=tool_env(collection_copy.parents[2]), capture_output=True, text=True, timeout=900,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- changelog ----------------------------------------------------------------------------------
def changelog(args, cwd, tmp):
    return subprocess.run([tool("antsibull-changelog"), *args], cwd=cwd, env=tool_env(tmp), capture_output=True,
                          text=True, timeout=600, check=False)


def test_changelog_fragments_and_changelog_yaml_lint(tmp_path):
    for args in (["lint"], ["lint-changelog-yaml", "changelogs/changelog.yaml"]):
        proc = changelog(args, ROOT, tmp_path)
        assert proc.returncode == 0 and proc.stdout.strip() == "", (args, proc.stdout, proc.stderr)


def test_the_changelog_is_released_and_generated_from_changelog_yaml(collection_copy, tmp_path):
    with open(os.path.join(ROOT, "changelogs", "changelog.yaml")) as f:
        releases = yaml.safe_load(f)["releases"]
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        version = yaml.safe_load(f)["version"]
    assert version in releases and releases[version]["changes"]["release_summary"]
    work = tmp_path / "ansible_collections" / "gce" / "cos"
    shutil.copytree(collection_copy, work)
    proc = changelog(["generate"], work, tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(ROOT, "CHANGELOG.rst")) as f:
        stale = "CHANGELOG.rst is stale: run antsibull-changelog generate"
        assert (work / "CHANGELOG.rst").read_text() == f.read(), stale


def test_a_new_fragment_goes_into_the_next_release_only(collection_copy, tmp_path):
    work = tmp_path / "ansible_collections" / "gce" / "cos"
    shutil.copytree(collection_copy, work)
    before = (work / "CHANGELOG.rst").read_text()
    (work / "changelogs" / "fragments" / "99-next.yml").write_text(
        "---\nminor_changes:\n  - cos_container - a change made after the first release.\n")
    assert changelog(["lint"], work, tmp_path).returncode == 0
    proc = changelog(["release", "--version", "9.9.9", "--date", "2027-01-01"], work, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = (work / "CHANGELOG.rst").read_text()
    new, old = after.split("\nv0.1.0\n", 1)
    assert "v9.9.9" in new and "a change made after the first release" in new
    # The released versions are untouched, and released fragments are not released again.
    assert "\nv0.1.0\n" + old == before[before.index("\nv0.1.0\n"):]
    with open(work / "changelogs" / "changelog.yaml") as f:
        releases = yaml.safe_load(f)["releases"]
    released = {frag for r, data in releases.items() if r != "9.9.9" for frag in data.get("fragments", [])}
    assert "99-next.yml" in releases["9.9.9"]["fragments"]
    assert not released & set(releases["9.9.9"]["fragments"])


# -- execution environment ----------------------------------------------------------------------
def test_execution_environment_context_holds_the_dependencies(collection_copy, tmp_path):
    """ansible-builder resolves a collection's meta/execution-environment.yml relative to the collection's
    root (the same file an EE build introspects): `create` runs offline on it from there."""
    definition = collection_copy / "execution-environment.yml"
    shutil.copy(collection_copy / "meta" / "execution-environment.yml", definition)
    context = tmp_path / "context"
    proc = subprocess.run([tool("ansible-builder"), "create", "-f", str(definition), "--context", str(context)],
                          cwd=collection_copy, env=tool_env(tmp_path), capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines(context / "_build" / "requirements.txt") == lines(os.path.join(ROOT, "requirements.txt"))
    assert lines(context / "_build" / "bindep.txt") == lines(os.path.join(ROOT, "bindep.txt"))
    (containerfile,) = [p.read_text() for p in context.iterdir() if p.name in ("Containerfile", "Dockerfile")]
    assert "requirements.txt" in containerfile and "bindep.txt" in containerfile


def test_an_ee_that_installs_the_artifact_finds_its_dependencies(artifact, tmp_path):
    """What an EE build does with the collection: install it, then introspect its dependencies."""
    env = tool_env(tmp_path)
    subprocess.run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p", str(tmp_path), str(artifact)],
                   env=env, check=True, capture_output=True)
    proc = subprocess.run([tool("ansible-builder"), "introspect", str(tmp_path)], env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    found = yaml.safe_load(proc.stdout)
    python = {line.split("#")[0].strip() for line in found["python"] if line.endswith("# from collection gce.cos")}
    # ansible-builder leaves out what every EE has (ansible-core's own PyYAML among them).
    assert python == set(lines(os.path.join(ROOT, "requirements.txt"))) - {"PyYAML>=6.0"}, proc.stdout
    system = {line.split("#")[0].strip() for line in found["system"] if line.endswith("# from collection gce.cos")}
    assert system == set(lines(os.path.join(ROOT, "bindep.txt"))), proc.stdout
