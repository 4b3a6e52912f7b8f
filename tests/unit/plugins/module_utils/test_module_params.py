"""The modules' validators and instance builder, called the way a role calls them: no server, no module."""

import pytest
from ansible_collections.gce.cos.plugins.module_utils._disk import options as disk
from ansible_collections.gce.cos.plugins.module_utils._firewall import options as firewall
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_params import InvalidParams, params_with_defaults
from ansible_collections.gce.cos.plugins.module_utils._instance import options as instance
from ansible_collections.gce.cos.plugins.module_utils._instance.body import build_instance_body


def params(module, **values):
    return params_with_defaults(module.ARGUMENT_SPEC, values, **module.ARGUMENT_RULES)


def refused(validator, p):
    with pytest.raises(InvalidParams) as exc:
        validator(p)
    return exc.value


def test_params_with_defaults_applies_the_modules_defaults_and_rules():
    p = params(instance, name="web-1", zone="us-central1-a", disks=[{"name": "data"}])
    assert p["state"] == "present" and p["image_project"] == "cos-cloud" and p["google_logging_enabled"] is True
    assert p["disks"] == [{"name": "data", "device_name": None, "mode": "READ_WRITE", "auto_delete": False}]
    assert p["wait_timeout"] == 300 and p["machine_type"] is None
    with pytest.raises(InvalidParams) as exc:
        params(instance, name="web-1", zone="us-central1-a", image="x", image_family="cos-stable")
    assert "mutually exclusive" in str(exc.value)
    with pytest.raises(InvalidParams) as exc:
        params(disk, name="d", zone="us-central1-a", sise_gb=10)
    assert "sise_gb" in str(exc.value)


def test_firewall_ranges_go_through_ipaddress():
    p = params(firewall, name="web", ports=["80/tcp"], source_ranges=["300.0.0.0/8"])
    err = refused(firewall.validate_firewall_params, p)
    assert err.errors == [
        "source_ranges: '300.0.0.0/8' is not an IP range: '300.0.0.0/8' does not appear to be an IPv4 or IPv6 "
        "network; use CIDR such as 10.0.0.0/8 or 0.0.0.0/0"
    ]
    assert err.reason == "invalid" and str(err) == err.errors[0]
    firewall.validate_firewall_params(params(firewall, name="web", ports=["80/tcp"], source_ranges=["10.0.0.0/8"]))
    assert firewall.wanted_rules(params(firewall, name="web", ports=["443/tcp", "80/tcp", "53/udp"])) == [
        {"IPProtocol": "tcp", "ports": ["80", "443"]}, {"IPProtocol": "udp", "ports": ["53"]}]


def test_firewall_ports_and_priority_are_checked():
    p = params(firewall, name="web", ports=["99999/tcp", "80/icmp"], priority=70000)
    errors = refused(firewall.validate_firewall_params, p).errors
    assert errors == [
        "ports: '99999' is not a port: ports run from 0 to 65535",
        "ports: '80/icmp': only tcp, udp and sctp have ports",
        "priority: 70000 is out of range: use 0 (highest) to 65535 (lowest)",
    ]


def test_a_disk_of_0_gb_is_an_error_not_a_default():
    err = refused(disk.validate_disk_params, params(disk, name="data", zone="us-central1-a", size_gb=0))
    assert err.errors == ["size_gb: 0 GB is not a possible disk size: use 1 to 65536 GB"]
    disk.validate_disk_params(params(disk, name="data", zone="us-central1-a", size_gb=20))


def test_instance_values_are_checked_with_the_fix():
    p = params(instance, name="web-1", zone="us-central1-a", boot_disk={"size_gb": 5}, labels={"App": "web"})
    errors = refused(instance.validate_instance_params, p).errors
    assert errors == [
        "boot_disk.size_gb: 5 GB is smaller than COS images (10 GB): use at least 10",
        "labels: key 'App' is not valid: use lowercase letters, digits, '_' and '-', starting with a letter, at most "
        "63 characters",
    ]
    instance.validate_instance_params(params(instance, name="web-1", zone="us-central1-a"))


def test_the_builder_is_a_pure_function_of_the_options_and_the_lookups():
    p = params(instance, name="web-1", zone="us-central1-a", machine_type="e2-small", labels={"app": "web"},
               network_tags=["web", "http", "web"], disks=[{"name": "data", "device_name": "d"}],
               external_ip="web-ip", scheduling={"provisioning_model": "SPOT"}, user_data="#cloud-config\n")
    address = {"address": "34.1.2.3", "name": "web-ip", "networkTier": "PREMIUM"}
    body = build_instance_body(p, "proj", "projects/cos-cloud/global/images/cos-1", "cos-1", address)
    assert body == build_instance_body(p, "proj", "projects/cos-cloud/global/images/cos-1", "cos-1", address)
    assert body["machineType"] == "zones/us-central1-a/machineTypes/e2-small"
    assert body["labels"] == {"app": "web", "container-vm": "cos-1"}
    assert body["tags"] == {"items": ["http", "web"]}
    assert body["disks"][0]["initializeParams"] == {
        "diskName": "web-1", "sourceImage": "projects/cos-cloud/global/images/cos-1", "diskSizeGb": "10",
        "diskType": "zones/us-central1-a/diskTypes/pd-balanced"}
    assert body["disks"][1] == {"source": "projects/proj/zones/us-central1-a/disks/data", "deviceName": "d",
                                "mode": "READ_WRITE", "autoDelete": False}
    assert body["networkInterfaces"] == [{
        "network": "projects/proj/global/networks/default",
        "accessConfigs": [{"name": "External NAT", "type": "ONE_TO_ONE_NAT", "natIP": "34.1.2.3",
                           "networkTier": "PREMIUM"}]}]
    assert body["scheduling"] == {"provisioningModel": "SPOT", "onHostMaintenance": "TERMINATE",
                                  "automaticRestart": False}
    assert body["metadata"]["items"] == [{"key": "google-logging-enabled", "value": "true"},
                                         {"key": "user-data", "value": "#cloud-config\n"}]
    assert p["network_tags"] == ["web", "http", "web"]  # the options are not changed
