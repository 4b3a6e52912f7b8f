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
    assert out["args"]["instance"] == {"name": "web-1", "zone": "us-central1-a", "network_tags": ["web-1"],
                                       "disks": []}


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
    assert out["args"]["instance"]["disks"] == [{"name": "db-data", "device_name": "db-data"},
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
    out = plan(instance={"name": "w", "zone": "us-central1-a", "scopes": ["cloud-platform"]}, registries=[
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
               instance={"name": "web-1", "zone": "us-central1-a", "tags": ["web", "http"], "network": "prod"})
    assert out["errors"] == []
    assert out["ports"] == ["53/udp", "80/tcp", "8443/tcp", "9000/udp"]
    assert out["host_ports"] == [{"port": 8443, "proto": "tcp"}, {"port": 9000, "proto": "udp"}]
    assert out["firewall"]["network"] == "prod" and out["firewall"]["name"] == "web-fw"
    assert out["args"]["instance"]["network_tags"] == ["web", "http"]  # the target tag is there already
    errors = plan(firewall={"extra_ports": [0, "http", True], "source_ranges": ["anywhere"]})["errors"]
    # The role's own checks first, then cos_firewall's (ranges through ipaddress).
    assert [e.split(":")[0] for e in errors] == [
        "cos_deploy_firewall.extra_ports[0]",
        "cos_deploy_firewall.extra_ports[1]",
        "cos_deploy_firewall.extra_ports[2]",
        "cos_deploy_firewall.source_ranges",
    ]


def test_a_long_instance_name_needs_a_firewall_name():
    errors = plan(instance={"name": "a" * 60, "zone": "us-central1-a"})["errors"]
    assert errors and errors[0].startswith("cos_deploy_firewall.name")
    assert plan(instance={"name": "a" * 60, "zone": "us-central1-a"}, firewall={"name": "short"})["errors"] == []


def test_service_account_and_boot_disk():
    out = plan(instance={"name": "w", "zone": "us-central1-a", "service_account": "sa@p.iam.gserviceaccount.com",
                         "scopes": ["cloud-platform"], "boot_disk_size_gb": 20})
    assert out["args"]["instance"]["service_account"] == {"email": "sa@p.iam.gserviceaccount.com",
                                                          "scopes": ["cloud-platform"]}
    assert out["args"]["instance"]["boot_disk"] == {"size_gb": 20}


def test_shielded_vm_reaches_cos_instance():
    shielded = {"secure_boot": True, "vtpm": True, "integrity_monitoring": True}
    out = plan(instance={"name": "w", "zone": "us-central1-a", "shielded_vm": shielded})
    assert out["errors"] == [] and out["args"]["instance"]["shielded_vm"] == shielded
    assert "shielded_vm" not in plan()["args"]["instance"]


def test_not_a_mapping():
    with pytest.raises(AnsibleFilterError):
        cos_deploy_plan([])


def test_a_misspelt_variable_is_refused_with_the_closest_known_name():
    known = ["cos_deploy_containers", "cos_deploy_disks", "cos_deploy_instance"]
    errors = plan(variables=["cos_deploy_container", "cos_deploy_instance"], known_variables=known)["errors"]
    assert errors == ["cos_deploy_container: is not a variable of the gce.cos.cos_deploy role, so it would be "
                      "ignored. Fix: rename it to cos_deploy_containers"]
    far = plan(variables=["cos_deploy_zzz"], known_variables=known)["errors"]
    assert len(far) == 1 and far[0].startswith("cos_deploy_zzz: ") and "use one of cos_deploy_containers" in far[0]
    assert plan(variables=list(known), known_variables=known)["errors"] == []


def test_metadata_options_set_their_cos_keys_and_refuse_a_key_given_twice():
    options = {"startup_script": "#!/bin/bash\n", "monitoring": True, "logging_fluentbit": False,
               "update_strategy": "update_disabled"}
    out = plan(instance={"name": "web-1", "zone": "us-central1-a", "metadata": {"team": "a"}}, metadata_options=options)
    assert out["errors"] == []
    assert out["args"]["instance"]["metadata"] == {
        "team": "a", "startup-script": "#!/bin/bash\n", "google-monitoring-enabled": "true",
        "google-logging-use-fluentbit": "false", "cos-update-strategy": "update_disabled"}
    unset = plan(metadata_options={"startup_script": "", "monitoring": None})
    assert "metadata" not in unset["args"]["instance"]
    given = {"google-monitoring-enabled": "false"}
    twice = plan(instance={"name": "web-1", "zone": "us-central1-a", "metadata": given},
                 metadata_options={"monitoring": True})["errors"]
    assert len(twice) == 1 and twice[0].startswith("cos_deploy_instance.metadata.google-monitoring-enabled: ")
    assert "cos_deploy_monitoring" in twice[0]


@pytest.mark.parametrize("changes, expected", [
    # The modules' own rules, named by the role variable, for every task before the first API call.
    ({"firewall": {"source_ranges": ["300.0.0.0/8"]}},
     "cos_deploy_firewall.source_ranges: '300.0.0.0/8' is not an IP range"),
    ({"disks": [{"name": "a", "size_gb": 10}, {"name": "b", "size_gb": 0}]},
     "cos_deploy_disks[1].size_gb: 0 GB is not a possible disk size"),
    ({"instance": {"name": "web-1", "zone": "us-central1-a", "boot_disk_size_gb": 5}},
     "cos_deploy_instance.boot_disk_size_gb: 5 GB is smaller than COS images"),
    ({"instance": {"name": "web-1", "zone": "us-central1-a", "labels": {"Env": "prod"}}},
     "cos_deploy_instance.labels: key 'Env' is not valid"),
    ({"instance": {"name": "web-1", "zone": "europe"}}, "cos_deploy_instance.zone: 'europe' is not a zone name"),
])
def test_each_task_is_checked_by_its_modules_rules(changes, expected):
    errors = plan(**changes)["errors"]
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_the_plan_holds_the_options_of_each_task():
    args = plan(disks=[{"name": "a", "size_gb": 0}])["args"]
    assert args["disks"] == [{"name": "a", "zone": "us-central1-a", "size_gb": 0}]  # 0 is kept, and refused
    assert args["instance"]["disks"] == [{"name": "a", "device_name": "a"}]
    assert args["firewall"]["ports"] == ["53/udp", "80/tcp"] and args["firewall"]["target_tags"] == ["web-1"]


def test_toolbox_writes_cos_settings_with_its_default_binds_first():
    assert plan()["toolbox"] is None
    out = plan(toolbox={"image": "127.0.0.1:5000/tools", "tag": "v1", "binds": ["/var/lib/app:/app", "/srv"]})
    assert out["errors"] == []
    assert out["toolbox"].splitlines()[1:] == [
        "TOOLBOX_DOCKER_IMAGE=127.0.0.1:5000/tools",
        "TOOLBOX_DOCKER_TAG=v1",
        'TOOLBOX_BIND="--bind=/:/media/root --bind=/mnt/disks:/mnt/disks --bind=/var:/media/root/var '
        '--bind=/home:/media/root/home --bind=/etc/resolv.conf:/etc/resolv.conf --bind=/var/lib/app:/app '
        '--bind=/srv"',
    ]
    # Only the tag: the image stays COS's.
    assert plan(toolbox={"tag": "v20251002"})["toolbox"].splitlines()[1:] == ["TOOLBOX_DOCKER_TAG=v20251002"]


@pytest.mark.parametrize("toolbox, key", [
    ({"image": "gcr.io/cos-cloud/toolbox:v1"}, "cos_deploy_toolbox.image"),
    ({"image": "Bad Image"}, "cos_deploy_toolbox.image"),
    ({"tag": "v1; rm -rf /"}, "cos_deploy_toolbox.tag"),
    ({"binds": ["relative:/x"]}, "cos_deploy_toolbox.binds[0]"),
    ({"binds": ["/a:/b:/c"]}, "cos_deploy_toolbox.binds[0]"),
    ({"binds": ["/a/../etc"]}, "cos_deploy_toolbox.binds[0]"),
    ({"binds": ['/a" --bind=/x']}, "cos_deploy_toolbox.binds[0]"),
])
def test_bad_toolbox_settings_name_the_key(toolbox, key):
    errors = plan(toolbox=toolbox)["errors"]
    assert len(errors) == 1 and errors[0].startswith(key + ": ") and "Fix: " in errors[0], errors


def test_gcplogs_warns_about_the_role_and_the_scope_the_instance_lacks():
    gcplogs = [{"name": "logger", "image": "busybox:1.36", "log_driver": "gcplogs"}]
    # Default scopes include logging.write: only the IAM role is left to check, and the warning says so.
    (warning,) = plan(containers=gcplogs)["warnings"]
    assert "roles/logging.logWriter" in warning and "logger" in warning and "logging-write" in warning
    for scopes in (["logging-write"], ["https://www.googleapis.com/auth/logging.write"], ["cloud-platform"]):
        out = plan(containers=gcplogs, instance={"name": "web-1", "zone": "us-central1-a", "scopes": scopes})
        assert len(out["warnings"]) == 1, (scopes, out["warnings"])
    out = plan(containers=gcplogs, instance={"name": "web-1", "zone": "us-central1-a", "scopes": ["storage-ro"]})
    assert out["errors"] == [] and len(out["warnings"]) == 2
    assert "cos_deploy_instance.scopes has neither logging-write nor cloud-platform" in out["warnings"][1]


def test_containers_not_given_leave_the_containers_and_the_firewall_rule_alone():
    out = plan(containers=None)
    assert out["errors"] == [] and out["containers_given"] is False
    assert out["args"]["firewall"] is None
    empty = plan(containers=[])
    assert empty["containers_given"] is True
    assert empty["args"]["firewall"] == {"name": "web-1-ports", "state": "absent", "network": "default"}


def test_a_volume_on_an_undeclared_disk_is_reported_with_the_other_errors_of_its_container():
    out = plan(containers=[{"name": "web", "image": "nginx:1.27", "imagePulPolicy": "Always",
                            "volumes": [{"device_name": "nodisk", "container_path": "/data", "read_onyl": True}]}])
    assert any(e.startswith("cos_deploy_containers[0].imagePulPolicy: ") for e in out["errors"]), out["errors"]
    assert ("cos_deploy_containers[0].volumes[0].read_onyl: true is not a known field. Fix: did you mean "
            "'read_only'?") in out["errors"]
    assert any(e.startswith("cos_deploy_containers[0].volumes[0].device_name: \"nodisk\" is not the device_name")
               for e in out["errors"]), out["errors"]


def test_container_fields_are_typed_as_the_module_types_them():
    out = plan(containers=[{"name": "web", "image": "nginx:1.27", "cpus": "0.5", "stop_timeout": "10",
                            "healthcheck": {"command": "true", "retries": "3"}}])
    assert out["errors"] == []


def test_the_container_vm_label_from_the_inventory_is_left_out():
    out = plan(instance={"name": "web-1", "zone": "us-central1-a",
                         "labels": {"container-vm": "cos-stable-109", "team": "blue"}})
    assert out["errors"] == [] and out["args"]["instance"]["labels"] == {"team": "blue"}


def test_docker_daemon_settings_that_cos_dockerd_flags_set_are_refused():
    # COS starts dockerd with --registry-mirror, --host and --containerd: the same setting in
    # daemon.json makes dockerd refuse to start, so the role refuses it before any API call.
    out = plan(docker_daemon={"live-restore": True, "registry-mirrors": ["https://mirror.example.com"],
                              "hosts": ["unix:///run/docker.sock"]})
    clash = "and dockerd refuses to start when a setting is given both as a flag and in daemon.json"
    assert out["errors"] == [
        """cos_deploy_docker_daemon.hosts: ["unix:///run/docker.sock"] is set by COS's dockerd flag --host=fd://, """
        "%s. Fix: remove hosts from cos_deploy_docker_daemon" % clash,
        """cos_deploy_docker_daemon.registry-mirrors: ["https://mirror.example.com"] is set by COS's dockerd flag """
        "--registry-mirror=https://mirror.gcr.io, %s. Fix: remove registry-mirrors from cos_deploy_docker_daemon "
        "(docker already pulls Docker Hub images through mirror.gcr.io)" % clash,
    ]
    assert plan(docker_daemon={"live-restore": True, "log-driver": "json-file"})["errors"] == []


# -- issue 23: Google registries come from the images; units are built, not just validated ---------------
def test_google_registries_come_from_the_images():
    """A user types a Google registry once, in the image: the role configures docker-credential-gcr for it."""
    out = plan(containers=[{"name": "api", "image": "europe-west1-docker.pkg.dev/p/apps/api:1"},
                           {"name": "old", "image": "eu.gcr.io/p/old@sha256:" + "a" * 64},
                           {"name": "web", "image": "nginx:1.27"},
                           {"name": "gh", "image": "ghcr.io/org/gh:2"}])
    assert out["errors"] == [] and out["warnings"] == []
    assert out["gcr_registries"] == ["eu.gcr.io", "europe-west1-docker.pkg.dev"]
    assert out["logins"] == []


def test_a_listed_google_registry_that_an_image_names_is_accepted_with_a_warning():
    out = plan(containers=[{"name": "api", "image": "us-docker.pkg.dev/p/apps/api:1"}],
               registries=[{"server": "us-docker.pkg.dev"}, {"server": "gcr.io"}])
    assert out["errors"] == []
    # gcr.io names no image here, and stays: a container deployed later (cos_container) may pull from it.
    assert out["gcr_registries"] == ["gcr.io", "us-docker.pkg.dev"]
    (warning,) = out["warnings"]
    assert warning.startswith("cos_deploy_registries[0].server: us-docker.pkg.dev need not be listed: the image "
                              "of cos_deploy_containers[0] names it")
    assert warning.endswith("Fix: remove the entry")


def test_a_unit_over_a_metadata_value_fails_in_the_plan():
    """The unit is built as cos_container builds it, so a spec whose unit cannot be written fails here, before
    the first disk exists, not at the containers task."""
    big = {"name": "big", "image": "nginx:1.27", "env": {"BLOB": "x" * (256 * 1024)}}
    (error,) = plan(containers=[{"name": "web", "image": "nginx:1.27"}, big])["errors"]
    assert error.startswith("cos_deploy_containers[1]: the unit of container big (metadata key cos-container-big): "
                            "the value has ")
    assert "a metadata value may hold at most 262144 (256 KB)" in error
    assert error.endswith("Fix: make the spec smaller (fewer or shorter env values, labels or args)")
