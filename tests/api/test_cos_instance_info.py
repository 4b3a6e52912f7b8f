"""cos_instance_info against localgce: the same summary as cos_instance, and the action group."""

import os

import yaml
from module_runner import ROOT, calls, connection, mutating, run_module

ZONE = "us-central1-a"


def test_info_returns_the_summary_cos_instance_returns(localgce, clean_env):
    created = run_module("cos_instance", dict(connection(localgce), name="web-1", zone=ZONE, labels={"app": "web"},
                                              user_data="#cloud-config\n", network_tags=["web"]))
    assert created["changed"], created
    before = len(localgce.requests())
    info = run_module("cos_instance_info", dict(connection(localgce), zone=ZONE, name="web-1"))
    assert info["changed"] is False and not info.get("failed"), info
    assert info["instances"] == [created["instance"]]
    inst = info["instances"][0]
    assert inst["machine_type"] == "e2-medium" and inst["network_tags"] == ["web"]
    assert "metadataKeys" not in inst and inst["metadata_keys"] == ["google-logging-enabled", "user-data"]
    assert inst["metadata"]["user-data"].startswith("sha256:")  # the document itself is never shown
    assert not mutating(localgce.requests()[before:])

    listed = run_module("cos_instance_info", dict(connection(localgce), zone=ZONE, filter="labels.app=web"))
    assert listed["instances"] == [created["instance"]]
    missing = run_module("cos_instance_info", dict(connection(localgce), zone=ZONE, name="absent-vm"))
    assert missing["instances"] == []


def test_info_refuses_a_bad_zone_before_any_call(localgce, clean_env):
    before = len(localgce.requests())
    result = run_module("cos_instance_info", dict(connection(localgce), zone="central", name="web-1"))
    assert result.failed and "zone: 'central' is not a zone name" in result["msg"], result
    assert calls(localgce.requests()[before:]) == []


def test_every_module_is_in_the_action_group():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as f:
        group = yaml.safe_load(f)["action_groups"]["gcp"]
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "modules"))
                     if name.endswith(".py") and not name.startswith("_"))
    assert sorted(group) == modules
