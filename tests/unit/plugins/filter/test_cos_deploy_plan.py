# -*- coding: utf-8 -*-
"""gce.cos.cos_deploy_plan: value checks of the role's inputs and what the templates need."""

import copy

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gce.cos.plugins.filter.cos_deploy_plan import cos_deploy_plan

BASE = {
    "instance": {"name": "web-1", "zone": "us-central1-a"},
    "disks": [],
    "containers": [{"name": "web", "image": "nginx:1.27", "ports": [80, "53/udp"]}],
    "registries": [],
    "firewall": {},
}


def plan(**changes):
    inputs = copy.deepcopy(BASE)
    inputs.update(changes)
    return cos_deploy_plan(inputs)


def test_defaults():
    out = plan()
    assert out["errors"] == [] and out["warnings"] == []
    assert out["ports"] == ["53/udp", "80/tcp"]
    assert out["host_ports"] == []
    assert out["firewall"] == {"enabled": True, "name": "web-1-ports", "network": "default",
                               "source_ranges": ["0.0.0.0/0"], "target_tag": "web-1"}
    assert out["instance"] == {"attached_disks": [], "boot_disk": None, "network_tags": ["web-1"],
                               "service_account": None}


def test_disks_get_device_names_mount_paths_and_escaped_unit_names():
    logs = {"name": "logs", "device_name": "app-logs", "mount_path": "/mnt/disks/logs/", "format": False}
    out = plan(disks=[{"name": "db-data", "size_gb": 20}, logs])
    assert out["errors"] == []
    first, second = out["disks"]
    assert first["device_name"] == "db-data" and first["mount_path"] == "/mnt/disks/db-data"
    assert first["mount_unit"] == "mnt-disks-db\\x2ddata.mount"  # as systemd-escape --path does
    assert first["device"] == "/dev/disk/by-id/google-db-data"
    assert first["format"] and first["resize"] and first["mount_options"] == "discard,defaults"
    assert second["mount_path"] == "/mnt/disks/logs" and not second["format"]
    assert out["instance"]["attached_disks"] == [{"name": "db-data", "device_name": "db-data"},
                                                 {"name": "logs", "device_name": "app-logs"}]


@pytest.mark.parametrize("disks, key", [
    ([{"name": "Bad"}], "cos_deploy_disks[0].name"),
    ([{"name": "a", "mount_path": "/var/lib/a"}], "cos_deploy_disks[0].mount_path"),
    ([{"name": "a", "mount_path": "/mnt/disks"}], "cos_deploy_disks[0].mount_path"),
    ([{"name": "a", "mount_path": "/mnt/disks/../etc"}], "cos_deploy_disks[0].mount_path"),
    ([{"name": "a"}, {"name": "b", "device_name": "a"}], "cos_deploy_disks[1].device_name"),
    ([{"name": "a", "mount_options": "ro; rm -rf /"}], "cos_deploy_disks[0].mount_options"),
])
def test_bad_disks_name_the_key(disks, key):
    errors = plan(disks=disks)["errors"]
    assert len(errors) == 1 and errors[0].startswith(key + ": ")


def test_container_errors_come_from_the_container_spec_with_the_variable_path():
    errors = plan(containers=[{"name": "web", "image": "nginx", "ports": [99999]},
                              {"name": "web", "image": "NGINX", "restart_policy": "sometimes"}])["errors"]
    assert any(e.startswith("cos_deploy_containers[0].ports[0]: 99999") for e in errors)
    assert any(e.startswith("cos_deploy_containers[1].image") for e in errors)
    assert any(e.startswith("cos_deploy_containers[1].restart_policy") for e in errors)
    errors = plan(containers=[{"name": "web", "image": "nginx"}, {"name": "web", "image": "httpd"}])["errors"]
    assert len(errors) == 1 and errors[0].startswith("cos_deploy_containers[1].name")
    assert "another container" in errors[0]


def test_disk_volumes_must_name_a_declared_disk_at_its_default_path():
    vol = {"device_name": "data", "container_path": "/data"}
    errors = plan(containers=[{"name": "db", "image": "postgres:16", "volumes": [vol]}])["errors"]
    assert errors and errors[0].startswith("cos_deploy_containers[0].volumes[0].device_name")
    assert "not the device_name of a disk" in errors[0]
    errors = plan(disks=[{"name": "data", "mount_path": "/mnt/disks/elsewhere"}],
                  containers=[{"name": "db", "image": "postgres:16", "volumes": [vol]}])["errors"]
    assert errors and "is mounted at /mnt/disks/elsewhere" in errors[0]
    assert plan(disks=[{"name": "data"}], containers=[{"name": "db", "image": "postgres:16",
                                                       "volumes": [vol]}])["errors"] == []


def test_secret_values_are_never_echoed():
    out = plan(containers=[{"name": "db", "image": "postgres:16", "secret_env": {"PW": "hunter2"}}],
               registries=[{"server": "ghcr.io", "username": "bot", "password_secret": "hunter2"}])
    text = "\n".join(out["errors"])
    assert "hunter2" not in text
    assert "cos_deploy_containers[0].secret_env.PW" in text
    assert "cos_deploy_registries[0].password_secret: (value hidden" in text


def test_registries_split_into_gcr_hosts_and_logins():
    out = plan(instance={"name": "w", "zone": "z", "scopes": ["cloud-platform"]}, registries=[
        {"server": "us-docker.pkg.dev"}, {"server": "gcr.io"}, {"server": "us-docker.pkg.dev"},
        {"server": "ghcr.io", "username": "bot", "password_secret": "sm://my-project/ghcr"},
        {"server": "registry.example.com:5000", "username": "ci",
         "password_secret": "projects/my-project/secrets/reg/versions/3"},
    ])
    assert out["errors"] == [] and out["warnings"] == []
    assert out["gcr_registries"] == ["gcr.io", "us-docker.pkg.dev"]
    assert out["logins"] == [
        {"server": "ghcr.io", "username": "bot",
         "password_secret": "projects/my-project/secrets/ghcr/versions/latest",
         "unit": "cos-registry-login-0.service"},
        {"server": "registry.example.com:5000", "username": "ci",
         "password_secret": "projects/my-project/secrets/reg/versions/3",
         "unit": "cos-registry-login-1.service"},
    ]


@pytest.mark.parametrize("reg, key", [
    ({"server": "https://ghcr.io"}, "cos_deploy_registries[0].server"),
    ({"server": "ghcr.io", "password_secret": "projects/my-project/secrets/s/versions/1"},
     "cos_deploy_registries[0].username"),
    ({"server": "ghcr.io", "username": "bot"}, "cos_deploy_registries[0].password_secret"),
    ({"server": "europe-docker.pkg.dev", "username": "bot"}, "cos_deploy_registries[0].username"),
])
def test_bad_registries_name_the_key(reg, key):
    errors = plan(registries=[reg])["errors"]
    assert len(errors) == 1 and errors[0].startswith(key + ": "), errors


def test_secrets_without_the_cloud_platform_scope_warn():
    out = plan(containers=[{"name": "db", "image": "postgres:16",
                            "secret_env": {"PW": "projects/my-project/secrets/pw/versions/1"}}])
    assert out["errors"] == [] and "cloud-platform" in out["warnings"][0]


def test_firewall_extra_ports_and_settings():
    out = plan(firewall={"extra_ports": [8443, "9000/udp", "8443/tcp"], "source_ranges": ["10.0.0.0/8"],
                         "target_tag": "web", "name": "web-fw"},
               instance={"name": "web-1", "zone": "z", "tags": ["web", "http"], "network": "prod"})
    assert out["errors"] == []
    assert out["ports"] == ["53/udp", "80/tcp", "8443/tcp", "9000/udp"]
    assert out["host_ports"] == [{"port": 8443, "proto": "tcp"}, {"port": 9000, "proto": "udp"}]
    assert out["firewall"]["network"] == "prod" and out["firewall"]["name"] == "web-fw"
    assert out["instance"]["network_tags"] == ["web", "http"]  # the target tag is there already
    errors = plan(firewall={"extra_ports": [0, "http", True], "source_ranges": ["anywhere"]})["errors"]
    assert [e.split(":")[0] for e in errors] == [
        "cos_deploy_firewall.source_ranges[0]",
        "cos_deploy_firewall.extra_ports[0]",
        "cos_deploy_firewall.extra_ports[1]",
        "cos_deploy_firewall.extra_ports[2]",
    ]


def test_a_long_instance_name_needs_a_firewall_name():
    errors = plan(instance={"name": "a" * 60, "zone": "z"})["errors"]
    assert errors and errors[0].startswith("cos_deploy_firewall.name")
    assert plan(instance={"name": "a" * 60, "zone": "z"}, firewall={"name": "short"})["errors"] == []


def test_service_account_and_boot_disk():
    out = plan(instance={"name": "w", "zone": "z", "service_account": "sa@p.iam.gserviceaccount.com",
                         "scopes": ["cloud-platform"], "boot_disk_size_gb": 20})
    assert out["instance"]["service_account"] == {"email": "sa@p.iam.gserviceaccount.com", "scopes": ["cloud-platform"]}
    assert out["instance"]["boot_disk"] == {"size_gb": 20}


def test_not_a_mapping():
    with pytest.raises(AnsibleFilterError):
        cos_deploy_plan([])
