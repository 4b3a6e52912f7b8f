"""Every answer is accurate: each field localgce returns exists in the discovery document
with the right type (the client would silently drop unknown ones, hiding mistakes)."""

from __future__ import annotations

import json

import requests
from google.cloud import compute_v1
from lgce_api import COS_FAMILY, PROJECT, ZONE

from localgce import discovery

P = f"/compute/v1/projects/{PROJECT}"


def check(srv, path, method_id):
    r = requests.get(srv.url + path, headers={"Authorization": "Bearer t"})
    assert r.status_code == 200, (path, r.text)
    disc = discovery.get()
    m = disc.methods[method_id]
    # Validating as if it were a request body checks names, types, enums and patterns.
    disc._check_object(disc.schemas[m.response_ref], r.json(), m.response_ref, "response", None)
    return r.json()


def test_answers_match_the_schemas(api):
    api.create_disk("data-1", labels={"a": "b"})
    inst = api.create_instance(
        "vm-1", labels={"x": "y"}, tags=compute_v1.Tags(items=["t"]),
        metadata=compute_v1.Metadata(items=[compute_v1.Items(key="k", value="v")]),
        service_accounts=[compute_v1.ServiceAccount(email="default", scopes=["https://www.googleapis.com/auth/cloud-platform"])],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default",
                                                        access_configs=[compute_v1.AccessConfig()])],
        disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True,
                                       initialize_params=compute_v1.AttachedDiskInitializeParams(source_image=COS_FAMILY)),
               compute_v1.AttachedDisk(source=f"zones/{ZONE}/disks/data-1")])
    api.ok(api.snapshots.insert_unary(project=PROJECT, snapshot_resource=compute_v1.Snapshot(
        name="s1", source_disk=f"projects/{PROJECT}/zones/{ZONE}/disks/data-1")))
    api.ok(api.firewalls.insert_unary(project=PROJECT, firewall_resource=compute_v1.Firewall(
        name="fw", allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["80"])])))
    addresses = api.srv.client(compute_v1.AddressesClient)
    api.ok(addresses.insert_unary(project=PROJECT, region="us-central1",
                                  address_resource=compute_v1.Address(name="a1")))
    templates = api.srv.client(compute_v1.InstanceTemplatesClient)
    api.ok(templates.insert_unary(project=PROJECT, instance_template_resource=compute_v1.InstanceTemplate(
        name="t1", properties=compute_v1.InstanceProperties(machine_type="e2-small", labels={"a": "b"}))))
    api.srv.set_guest_attribute(PROJECT, ZONE, "vm-1", "ns", "k", "v")
    op = api.instances.stop_unary(project=PROJECT, zone=ZONE, instance="vm-1")
    api.srv.fault(method="POST", path="/start$", operation_error={"code": "X", "message": "m"})
    failed = api.instances.start_unary(project=PROJECT, zone=ZONE, instance="vm-1")
    warned = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(
        name="old", source_image="projects/cos-cloud/global/images/cos-121-18867-90-38"))

    z = f"{P}/zones/{ZONE}"
    cases = [
        (f"{z}/instances/vm-1", "compute.instances.get"),
        (f"{z}/instances", "compute.instances.list"),
        (f"{P}/aggregated/instances", "compute.instances.aggregatedList"),
        (f"{z}/instances/vm-1/getGuestAttributes?queryPath=ns/", "compute.instances.getGuestAttributes"),
        (f"{z}/instances/vm-1/serialPort", "compute.instances.getSerialPortOutput"),
        (f"{z}/disks/vm-1", "compute.disks.get"),
        (f"{z}/disks/data-1", "compute.disks.get"),
        (f"{P}/aggregated/disks", "compute.disks.aggregatedList"),
        (f"{P}/global/snapshots/s1", "compute.snapshots.get"),
        (f"{P}/global/firewalls", "compute.firewalls.list"),
        (f"{P}/global/networks/default", "compute.networks.get"),
        (f"{P}/regions/us-central1/subnetworks/default", "compute.subnetworks.get"),
        (f"{P}/regions/us-central1/addresses/a1", "compute.addresses.get"),
        (f"{P}/regions/us-central1/operations", "compute.regionOperations.list"),
        (f"{z}/operations/{op.name}", "compute.zoneOperations.get"),
        (f"{z}/operations/{failed.name}", "compute.zoneOperations.get"),
        (f"{z}/operations/{warned.name}", "compute.zoneOperations.get"),
        (f"{P}/global/operations", "compute.globalOperations.list"),
        (f"{P}/zones", "compute.zones.list"),
        (f"{P}/regions", "compute.regions.list"),
        (f"{z}/machineTypes", "compute.machineTypes.list"),
        (f"{z}/diskTypes", "compute.diskTypes.list"),
        ("/compute/v1/projects/cos-cloud/global/images", "compute.images.list"),
        ("/compute/v1/projects/cos-cloud/global/images/family/cos-stable", "compute.images.getFromFamily"),
        (P, "compute.projects.get"),
        (f"{P}/global/instanceTemplates/t1", "compute.instanceTemplates.get"),
    ]
    for path, method_id in cases:
        check(api.srv, path, method_id)
    got = check(api.srv, f"{z}/operations/{failed.name}", "compute.zoneOperations.get")
    assert got["error"]["errors"][0]["code"] == "X" and got["httpErrorStatusCode"] == 400
    assert json.dumps(check(api.srv, f"{z}/instances/vm-1", "compute.instances.get")).count(inst.self_link) >= 1
