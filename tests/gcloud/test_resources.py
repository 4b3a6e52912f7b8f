"""Disks, firewall rules, operations, zones and machine types, instance templates."""

from __future__ import annotations

import yaml
from gcloud_cli import PROJECT, ZONE, create_instance
from google.cloud import compute_v1


def test_disk_life_cycle(gcloud, compute, lg):
    create_instance(lg, "vm-disk")
    disks = compute(compute_v1.DisksClient)
    gcloud("disks", "create", "data-1", "--size=10GB", "--type=pd-ssd")
    disk = disks.get(project=PROJECT, zone=ZONE, disk="data-1")
    assert (disk.size_gb, disk.type_.rsplit("/", 1)[-1]) == (10, "pd-ssd")
    gcloud("instances", "attach-disk", "vm-disk", "--disk=data-1", "--device-name=data")
    inst = compute(compute_v1.InstancesClient).get(project=PROJECT, zone=ZONE, instance="vm-disk")
    assert [(d.device_name, d.source) for d in inst.disks][1:] == [("data", disk.self_link)]
    gcloud("disks", "resize", "data-1", "--size=20GB")
    assert disks.get(project=PROJECT, zone=ZONE, disk="data-1").size_gb == 20
    listed = gcloud("disks", "list")
    assert sorted(d["name"] for d in listed) == ["data-1", "vm-disk"]
    gcloud("instances", "detach-disk", "vm-disk", "--disk=data-1")
    assert not disks.get(project=PROJECT, zone=ZONE, disk="data-1").users
    gcloud("disks", "delete", "data-1", "--quiet")
    assert [d.name for d in disks.list(project=PROJECT, zone=ZONE)] == ["vm-disk"]


def test_firewall_rules(gcloud, compute):
    gcloud("firewall-rules", "create", "allow-web", "--allow=tcp:80,tcp:8080", "--target-tags=http-server",
           "--source-ranges=0.0.0.0/0")
    rule = compute(compute_v1.FirewallsClient).get(project=PROJECT, firewall="allow-web")
    assert [(a.I_p_protocol, list(a.ports)) for a in rule.allowed] == [("tcp", ["80"]), ("tcp", ["8080"])]
    assert list(rule.target_tags) == ["http-server"]
    listed = gcloud("firewall-rules", "list")
    assert "allow-web" in [r["name"] for r in listed]
    gcloud("firewall-rules", "delete", "allow-web", "--quiet")
    names = [r.name for r in compute(compute_v1.FirewallsClient).list(project=PROJECT)]
    assert "allow-web" not in names and "default-allow-ssh" in names


def test_operations_zones_and_machine_types(gcloud, compute, lg):
    create_instance(lg, "vm-op")
    ops = gcloud("operations", "list")  # aggregatedList with returnPartialSuccess
    insert = [o for o in ops if o["operationType"] == "insert"]
    assert [o["targetLink"].rsplit("/", 1)[-1] for o in insert] == ["vm-op"]
    assert insert[0]["status"] == "DONE"
    zones = gcloud("zones", "list", "--filter=region:us-central1")
    api_zones = [z.name for z in compute(compute_v1.ZonesClient).list(project=PROJECT)
                 if z.region.endswith("/us-central1")]
    assert sorted(z["name"] for z in zones) == sorted(api_zones)
    types = gcloud("machine-types", "list", f"--zones={ZONE}", "--filter=name=e2-small")
    api_type = compute(compute_v1.MachineTypesClient).get(project=PROJECT, zone=ZONE, machine_type="e2-small")
    assert [(t["name"], t["guestCpus"], t["memoryMb"]) for t in types] == [
        ("e2-small", api_type.guest_cpus, api_type.memory_mb)]


def test_instance_templates(gcloud, compute):
    templates = compute(compute_v1.InstanceTemplatesClient)
    gcloud("instance-templates", "create", "tmpl-cos", "--image-project=cos-cloud", "--image-family=cos-stable",
           "--machine-type=e2-small", "--metadata=role=web")
    tmpl = templates.get(project=PROJECT, instance_template="tmpl-cos")
    assert tmpl.properties.machine_type == "e2-small"
    assert {i.key: i.value for i in tmpl.properties.metadata.items} == {"role": "web"}
    gcloud("instance-templates", "create-with-container", "tmpl-klt", "--machine-type=e2-small",
           "--container-image=docker.io/library/nginx:1.27")
    tmpl = templates.get(project=PROJECT, instance_template="tmpl-klt")
    items = {i.key: i.value for i in tmpl.properties.metadata.items}
    spec = yaml.safe_load(items["gce-container-declaration"])["spec"]
    assert spec["containers"][0]["image"] == "docker.io/library/nginx:1.27"
    listed = gcloud("instance-templates", "list")  # aggregatedList
    assert sorted(t["name"] for t in listed) == ["tmpl-cos", "tmpl-klt"]
