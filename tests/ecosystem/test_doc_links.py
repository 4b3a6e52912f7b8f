"""Every link in the docs resolves: relative links of README.md, the role READMEs and docs/**/*.md (with their
#anchors), the :ref: targets and relative links of docs/docsite/rst/*.rst, the R() references of the plugin and
role docs, and every docs/ path that code, roles, playbooks and tests name."""

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RST_DIR = os.path.join(ROOT, "docs", "docsite", "rst")
LABEL = re.compile(r"^\.\. _([^:\n]+):\s*$", re.M)


def rel(path):
    return os.path.relpath(path, ROOT)


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def markdown_files():
    return sorted([os.path.join(ROOT, "README.md"), *glob.glob(os.path.join(ROOT, "roles", "*", "README.md")),
                   *glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)])


def rst_files():
    return sorted(glob.glob(os.path.join(RST_DIR, "*.rst")))


def slugs(markdown):
    """GitHub's anchors of a markdown file's headings."""
    out = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^#{1,6} (.*)$", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


def labels():
    return {label for path in rst_files() for label in LABEL.findall(read(path))}


@pytest.mark.parametrize("path", markdown_files(), ids=rel)
def test_markdown_links_resolve(path):
    text = re.sub(r"^```.*?^```", "", read(path), flags=re.M | re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not dest.startswith(ROOT + os.sep) and dest != ROOT:
            broken.append("%s: outside the repository" % target)
        elif not os.path.exists(dest):
            broken.append("%s: no such file" % target)
        elif anchor and dest.endswith(".md") and anchor not in slugs(read(dest)):
            broken.append("%s: no such heading" % target)
    assert broken == [], broken


@pytest.mark.parametrize("path", rst_files(), ids=rel)
def test_rst_refs_and_links_resolve(path):
    text = read(path)
    known = labels()
    missing = [ref for ref in re.findall(r":ref:`(?:[^`<]*<)?([^`>]+)>?`", text) if ref not in known]
    assert missing == [], missing
    broken = [target for target in re.findall(r"`[^`<]*<([^>`]+)>`__?", text)
              if not re.match(r"^[a-z]+:", target)
              and not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), target.partition("#")[0])))]
    assert broken == [], broken
    assert LABEL.match(text) and LABEL.match(text).group(1) == "ansible_collections.gce.cos.docsite." + \
        os.path.basename(path)[:-4], "the page starts with its own label"


def test_extra_docs_lists_every_page_once():
    sections = yaml.safe_load(read(os.path.join(ROOT, "docs", "docsite", "extra-docs.yml")))["sections"]
    listed = [page for section in sections for page in section["toctree"]]
    assert sorted(listed) == sorted(os.path.basename(p)[:-4] for p in rst_files())


def _named_files():
    for pattern in ("plugins/**/*.py", "roles/**/*.yml", "roles/**/*.md", "playbooks/*.yml", "tests/**/*.py",
                    "tests/**/*.yml", "localgce/**/*.py", "demo/*.py", "bench/*.py", "Makefile", "galaxy.yml"):
        yield from glob.glob(os.path.join(ROOT, pattern), recursive=True)


def test_docs_paths_named_in_code_roles_playbooks_and_tests_exist():
    missing = set()
    for path in _named_files():
        if os.sep + "output" + os.sep in path:
            continue
        for name in re.findall(r"(?<![\w/.-])(docs/[\w./-]*\w)", read(path)):
            if not os.path.exists(os.path.join(ROOT, name)):
                missing.add("%s names %s" % (rel(path), name))
    assert sorted(missing) == []


def test_r_references_in_plugin_and_role_docs_name_existing_labels():
    known = labels()
    missing = set()
    for path in glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True) + \
            glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        for ref in re.findall(r"R\([^,()]+,\s*([\w.-]+)\)", read(path)):
            if ref not in known:
                missing.add("%s: %s" % (rel(path), ref))
    assert sorted(missing) == []
