# -*- coding: utf-8 -*-
"""Issue 23 item 5: the agent travels as text that grep finds, the same bytes as its shell files."""

import ast
import pathlib

import pytest
from ansible_collections.gce.cos.plugins.module_utils._vm import agent_scripts

MODULE_UTILS = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "module_utils"
CARRIER = MODULE_UTILS / "_vm" / "agent_scripts.py"
SCRIPTS = {"AGENT_SCRIPT": "cos-agent", "FETCH_SECRETS_SCRIPT": "fetch-secrets", "DISK_PREPARE_SCRIPT": "disk-prepare"}


@pytest.mark.parametrize("const", sorted(SCRIPTS))
def test_the_carried_text_is_the_shell_file_byte_for_byte(const):
    """What lands on the VM (write_files content) is the shell file as checked by shellcheck."""
    shell = (MODULE_UTILS / "_agent" / SCRIPTS[const]).read_bytes()
    assert getattr(agent_scripts, const).encode("utf-8") == shell, "run python tests/generate.py"


@pytest.mark.parametrize("const", sorted(SCRIPTS))
def test_grep_finds_every_line_of_the_agent_in_its_carrier(const):
    carrier = CARRIER.read_text()
    shell = (MODULE_UTILS / "_agent" / SCRIPTS[const]).read_text()
    assert shell in carrier, "%s travels as its text, not encoded" % SCRIPTS[const]


def test_the_carrier_imports_nothing():
    """Module start-up stays light: the text is a literal, nothing is decoded at import time."""
    tree = ast.parse(CARRIER.read_text())
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [node.module for node in imports] == ["__future__"]
