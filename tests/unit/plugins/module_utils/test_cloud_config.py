# -*- coding: utf-8 -*-
"""module_utils/cloud_config: one loader, merge and dumper for cos_container and the cos_cloud_config filter."""

import pytest
import yaml
from ansible_collections.gce.cos.plugins.module_utils import cloud_config, cos_agent

LONG = " ".join("word%d" % i for i in range(400))  # one plain line of ~3500 characters


def test_the_agent_part_is_the_same_bytes_for_the_filter_and_the_module():
    # Both take it from cos_agent.cloud_init_fragment(), through the same dumper.
    assembled = cloud_config.assemble([])
    assert assembled == cloud_config.with_agent("")
    assert yaml.safe_load(assembled) == cos_agent.cloud_init_fragment()


def test_each_caller_keeps_its_line_width():
    # Deployed documents must keep their bytes: the filter folds plain lines at 1000
    # characters, cos_container's edits at 4096.
    assembled = cloud_config.assemble([{"bootcmd": [LONG]}], agent=False)
    edited = cloud_config.with_agent("#cloud-config\nbootcmd: [%s]\n" % LONG)
    assert max(len(line) for line in assembled.splitlines()) < 1010
    assert max(len(line) for line in edited.splitlines()) > 3000
    assert yaml.safe_load(assembled)["bootcmd"] == yaml.safe_load(edited)["bootcmd"] == [LONG]


def test_edits_keep_list_positions_and_drop_emptied_lists():
    user = "#cloud-config\nwrite_files: []\nhostname: h\nruncmd: [[echo, x]]\n"
    doc = yaml.safe_load(cloud_config.with_agent(user))
    assert list(doc) == ["write_files", "hostname", "runcmd"]
    assert doc["runcmd"] == [["echo", "x"]] + cos_agent.cloud_init_fragment()["runcmd"]
    assert list(yaml.safe_load(cloud_config.with_units("#cloud-config\nruncmd: []\nhostname: h\n", {}))) == [
        "hostname"]


def test_merge_concatenates_merges_and_refuses_conflicts_without_editing_its_inputs():
    first = {"ntp": {"enabled": True}, "runcmd": [["a"]]}
    second = {"ntp": {"servers": ["x"]}, "runcmd": [["b"]]}
    doc = cloud_config.assemble_doc([first, second], agent=False)
    assert doc == {"ntp": {"enabled": True, "servers": ["x"]}, "runcmd": [["a"], ["b"]]}
    assert first == {"ntp": {"enabled": True}, "runcmd": [["a"]]}
    with pytest.raises(cloud_config.CloudConfigError, match=r"^ntp\.enabled is given twice"):
        cloud_config.assemble_doc([first, {"ntp": {"enabled": False}}], agent=False)


def test_assemble_accepts_yaml_text_with_or_without_the_header():
    # A part is a fragment, not a user-data document: no #cloud-config line is needed.
    assert cloud_config.assemble_doc(["runcmd: [a]\n", "#cloud-config\nbootcmd: [b]\n", None, ""],
                                     agent=False) == {"runcmd": ["a"], "bootcmd": ["b"]}
    with pytest.raises(cloud_config.CloudConfigError, match="user-data is not a #cloud-config document"):
        cloud_config.load("runcmd: [a]\n")


def test_assemble_refuses_a_document_over_the_metadata_limit():
    big = {"write_files": [{"path": "/var/big", "content": "x" * cloud_config.MAX_BYTES}]}
    with pytest.raises(cloud_config.CloudConfigError, match=r"^the document has"):
        cloud_config.assemble([big], agent=False)
