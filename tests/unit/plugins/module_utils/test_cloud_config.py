# -*- coding: utf-8 -*-
"""module_utils/cloud_config: one loader, merge and dumper for cos_container and the cos_cloud_config filter."""

import pytest
import yaml
from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config, cos_agent

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
    first = {"final_message": "up", "runcmd": [["a"]]}
    second = {"final_message": "up", "runcmd": [["b"]]}
    doc = cloud_config.assemble_doc([first, second], agent=False)
    assert doc == {"final_message": "up", "runcmd": [["a"], ["b"]]}
    assert first == {"final_message": "up", "runcmd": [["a"]]}
    with pytest.raises(cloud_config.CloudConfigError, match=r"^final_message is given twice"):
        cloud_config.assemble_doc([first, {"final_message": "down"}], agent=False)
    # Mappings merge key by key (no key COS runs is a mapping today; the merge is shared with the edits).
    into = {"m": {"enabled": True}}
    cloud_config._merge(into, {"m": {"servers": ["x"]}})
    assert into == {"m": {"enabled": True, "servers": ["x"]}}
    with pytest.raises(cloud_config.CloudConfigError, match=r"^m\.enabled is given twice"):
        cloud_config._merge(into, {"m": {"enabled": False}})


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


@pytest.mark.parametrize("key", ["packages", "mounts", "disk_setup", "ssh_authorized_keys", "apt"])
def test_keys_cos_cloud_init_ignores_are_refused_naming_the_key(key):
    # COS's cloud-init does not run these keys' modules: the VM would silently skip them.
    pattern = r"part 0 has top-level keys that Container-Optimized OS's cloud-init ignores .*: %s\." % key
    with pytest.raises(cloud_config.CloudConfigError, match=pattern):
        cloud_config.assemble([{key: ["x"]}, {"runcmd": [["true"]]}])
    with pytest.raises(cloud_config.CloudConfigError, match=r"user_data has .*: %s\." % key):
        cloud_config.check_cos_user_data("#cloud-config\n%s: [x]\nruncmd: [[true]]\n" % key)


def test_keys_cos_runs_are_accepted():
    doc = {"bootcmd": [["true"]], "write_files": [{"path": "/etc/x", "content": "x"}], "runcmd": [["true"]],
           "users": [{"name": "app", "uid": 2000}], "groups": ["g"], "final_message": "done"}
    assert cloud_config.assemble_doc([doc], agent=False) == doc
    cloud_config.check_cos_user_data(cloud_config.dump(doc))
    # Not #cloud-config (a script, nothing): not cloud-config's business.
    cloud_config.check_cos_user_data("#!/bin/bash\npackages=1\n")
    cloud_config.check_cos_user_data("")
