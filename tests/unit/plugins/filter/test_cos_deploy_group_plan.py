# -*- coding: utf-8 -*-
"""gce.cos.cos_deploy_group_plan: the group role's inputs checked by the modules' validators, and the
options of each module task it derives."""

import copy

import pytest
from ansible_collections.gce.cos.plugins.filter.cos_deploy_group_plan import cos_deploy_group_plan
from ansible_collections.gce.cos.plugins.module_utils._health_check.options import PROBER_RANGES

BASE = {
    "name": "web",
    "zone": "us-central1-a",
    "size": 3,
    "instance": {"machine_type": "e2-small"},
    "containers": [{"name": "web", "image": "nginx:1.27", "ports": [80]}],
    "update_policy": {"max_surge": "0", "max_unavailable": "1"},
}


def plan(**changes):
    inputs = copy.deepcopy(BASE)
    inputs.update(changes)
    return cos_deploy_group_plan(inputs)


def test_defaults_derive_every_task():
    out = plan()
    assert out["errors"] == []
    args = out["args"]
    assert args["template"]["name_prefix"] == "web" and args["template"]["network_tags"] == ["web"]
    # The containers are the group's, never the template's: a new image makes no new template.
    assert "containers" not in args["template"] and args["group"]["containers"] == BASE["containers"]
    assert args["canary_template"] is None
    assert args["health_check"]["name"] == "web-health" and args["health_check"]["port"] == 80
    assert args["health_firewall"]["source_ranges"] == PROBER_RANGES
    assert args["health_firewall"]["ports"] == ["80/tcp"] and args["health_firewall"]["target_tags"] == ["web"]
    assert args["firewall"]["name"] == "web-ports"
    assert args["group"]["autohealing"] == {"health_check": "web-health", "initial_delay_sec": 300}


def test_health_check_defaults_to_a_container_port_not_an_extra_one():
    out = plan(firewall={"extra_ports": [22]},
               containers=[{"name": "web", "image": "nginx:1.27", "ports": [8080]}])
    assert out["errors"] == [] and out["args"]["health_check"]["port"] == 8080


def test_canary_gets_its_own_template_with_the_overrides():
    out = plan(canary={"target_size": "1", "instance": {"image_family": "cos-beta"}})
    assert out["errors"] == []
    canary = out["args"]["canary_template"]
    assert canary["name_prefix"] == "web-canary" and canary["image_family"] == "cos-beta"
    assert out["args"]["group"]["versions"][1]["target_size"] == "1"


def test_stateful_disk_is_kept_by_the_group():
    out = plan(disks=[{"device_name": "data", "stateful": True}],
               update_policy={"max_surge": "0", "max_unavailable": "1", "replacement_method": "RECREATE"})
    assert out["errors"] == []
    assert out["args"]["group"]["stateful_disks"] == [{"device_name": "data", "auto_delete": "never"}]
    assert out["args"]["template"]["disks"] == [{"device_name": "data", "auto_delete": False}]
    assert out["deploy"]["disks"][0]["mount_path"] == "/mnt/disks/data"


@pytest.mark.parametrize("changes,start", [
    ({"update_policy": {"max_surge": "x"}}, "cos_deploy_group_update_policy.max_surge: 'x'"),
    ({"canary": {"target_size": "4"}}, "cos_deploy_group_canary.target_size: '4'"),
    ({"health_check": {"port": 8080}}, "cos_deploy_group_health_check.port: 8080"),
    ({"canary": {"template_prefix": "web"}}, "cos_deploy_group_canary.template_prefix: 'web'"),
    ({"template": {"prefix": "web-0123456789"}, "canary": {"template_prefix": "web"}},
     "cos_deploy_group_template.prefix: 'web-0123456789'"),
    ({"containers": [{"name": "web", "image": "nginx:::", "ports": [80]}]}, "cos_deploy_group_containers[0].image"),
    ({"health_check": {"port": 70000}}, "cos_deploy_group_health_check.port: 70000"),
    ({"variables": ["cos_deploy_group_sise"], "known_variables": ["cos_deploy_group_size"]},
     "cos_deploy_group_sise: is not a variable of the gce.cos.cos_deploy_group role"),
])
def test_bad_input_names_the_variable(changes, start):
    errors = plan(**changes)["errors"]
    assert any(e.startswith(start) for e in errors), errors
    assert not [e for e in errors if "0000000000" in e], errors  # never the placeholders' names


def test_docker_daemon_settings_that_cos_dockerd_flags_set_are_refused_with_the_group_variable():
    errors = plan(docker_daemon={"registry-mirrors": ["https://mirror.example.com"]})["errors"]
    assert len(errors) == 1
    assert errors[0].startswith("cos_deploy_group_docker_daemon.registry-mirrors: ")
    assert "--registry-mirror=https://mirror.gcr.io" in errors[0]
    assert plan(docker_daemon={"live-restore": True})["errors"] == []


def test_google_registries_come_from_the_images_and_warnings_name_the_group_variables():
    out = plan(containers=[{"name": "web", "image": "us-docker.pkg.dev/p/apps/web:1", "ports": [80]}],
               registries=[{"server": "us-docker.pkg.dev"}])
    assert out["errors"] == []
    assert out["deploy"]["gcr_registries"] == ["us-docker.pkg.dev"]
    (warning,) = out["warnings"]
    assert warning.startswith("cos_deploy_group_registries[0].server: us-docker.pkg.dev need not be listed: the "
                              "image of cos_deploy_group_containers[0] names it")


def test_a_unit_over_a_metadata_value_fails_in_the_group_plan():
    big = {"name": "web", "image": "nginx:1.27", "ports": [80], "env": {"BLOB": "x" * (256 * 1024)}}
    errors = plan(containers=[big])["errors"]
    assert [e for e in errors if e.startswith("cos_deploy_group_containers[0]: the unit of container web")], errors
