# -*- coding: utf-8 -*-
"""gce.cos.cos_cloud_config: parts merged into one #cloud-config, with the cos agent last."""

import json
import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.gce.cos.plugins.filter import cos_cloud_config as ccc
from ansible_collections.gce.cos.plugins.module_utils._vm import cos_agent

SCHEMA = "/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json"


def load(text):
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def test_lists_concatenate_in_order_and_the_agent_comes_last():
    disks = ("write_files:\n  - path: /etc/systemd/system/a.mount\n    content: x\n"
             "runcmd:\n  - [systemctl, start, a.mount]\n")
    doc = load(ccc.cos_cloud_config([disks, {"runcmd": [["echo", "b"]]}]))
    agent = cos_agent.cloud_init_fragment()
    assert doc["runcmd"] == [["systemctl", "start", "a.mount"], ["echo", "b"]] + agent["runcmd"]
    assert [f["path"] for f in doc["write_files"]] == ["/etc/systemd/system/a.mount"] + [
        f["path"] for f in agent["write_files"]]
    # The agent's text arrives byte-exact (its hash is its version).
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    assert written[cos_agent.AGENT_PATH] == cos_agent.AGENT_SCRIPT


def test_without_the_agent():
    assert load(ccc.cos_cloud_config([{"runcmd": [["true"]]}], agent=False)) == {"runcmd": [["true"]]}


def test_output_is_deterministic_and_readable():
    parts = ["#cloud-config\nwrite_files:\n  - path: /x\n    content: \"a\\nb\\n\"\n", None, "", {}]
    one, two = ccc.cos_cloud_config(parts), ccc.cos_cloud_config(list(parts))
    assert one == two
    # Multi-line contents are literal blocks, not escaped one-liners.
    assert "content: |\n" in one


def test_equal_scalars_merge_and_conflicting_scalars_fail():
    doc = load(ccc.cos_cloud_config([{"final_message": "up"}, {"final_message": "up"}], agent=False))
    assert doc == {"final_message": "up"}
    with pytest.raises(AnsibleFilterError, match=r"final_message is given twice"):
        ccc.cos_cloud_config([{"final_message": "up"}, {"final_message": "down"}], agent=False)


def test_keys_cos_cloud_init_ignores_are_refused():
    # ntp is a key cloud-init knows, but COS's cloud-init does not run its module.
    with pytest.raises(AnsibleFilterError, match=r"part 1 has top-level keys that Container-Optimized OS's "
                                                 r"cloud-init ignores \(it does not run their modules\): ntp\."):
        ccc.cos_cloud_config([{"runcmd": [["true"]]}, {"ntp": {"enabled": True}}], agent=False)


def test_unknown_top_level_keys_are_refused():
    # cloud-init would ignore this silently.
    with pytest.raises(AnsibleFilterError, match="does not know: write_file"):
        ccc.cos_cloud_config([{"write_file": []}])


def test_a_path_written_twice_is_refused():
    part = {"write_files": [{"path": cos_agent.AGENT_PATH, "content": "other"}]}
    with pytest.raises(AnsibleFilterError, match="writes %s twice" % cos_agent.AGENT_PATH):
        ccc.cos_cloud_config([part])


def test_bad_parts_are_refused():
    with pytest.raises(AnsibleFilterError, match="part 0 is not valid YAML"):
        ccc.cos_cloud_config(["a: [b"])
    with pytest.raises(AnsibleFilterError, match="part 1 is a list"):
        ccc.cos_cloud_config([{}, "- a\n"])
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        ccc.cos_cloud_config({"runcmd": []})


def test_the_metadata_value_limit_is_enforced():
    big = {"write_files": [{"path": "/var/big", "content": "x" * ccc.MAX_BYTES}]}
    with pytest.raises(AnsibleFilterError, match="more than the 262144"):
        ccc.cos_cloud_config([big], agent=False)


def test_schema_keys_match_the_installed_cloud_init():
    if not os.path.exists(SCHEMA):
        pytest.fail("cloud-init's schema is needed: apt-get install cloud-init")
    with open(SCHEMA) as f:
        schema = json.load(f)
    keys = set()
    for ref in schema["allOf"]:
        keys |= set(schema["$defs"][ref["$ref"].split("/")[-1]].get("properties", {}))
    assert keys == set(ccc.SCHEMA_KEYS)


def test_filter_is_registered():
    filters = ccc.FilterModule().filters()
    assert list(filters) == ["cos_cloud_config"]
    # Wrapped so that it receives plain data (module_utils/plain_data.py).
    assert filters["cos_cloud_config"].__wrapped__ is ccc.cos_cloud_config
