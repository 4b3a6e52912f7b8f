"""zones, regions, machineTypes, diskTypes, images, networks, projects, addresses."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1
from lgce_api import PROJECT, ZONE

LINK = "https://www.googleapis.com/compute/v1/"


def test_zones(api):
    zone = api.zones.get(project=PROJECT, zone=ZONE)
    assert zone.name == ZONE and zone.status == "UP"
    assert zone.region == f"{LINK}projects/{PROJECT}/regions/us-central1"
    names = [z.name for z in api.zones.list(project=PROJECT)]
    for z in ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f", "europe-west1-b",
              "europe-west1-c", "europe-west1-d", "europe-west4-a", "asia-east1-a"):
        assert z in names
    with pytest.raises(exceptions.BadRequest):
        api.zones.get(project=PROJECT, zone="mars-north1-a")


def test_regions(api):
    region = api.regions.get(project=PROJECT, region="europe-west1")
    assert f"{LINK}projects/{PROJECT}/zones/europe-west1-b" in region.zones


def test_machine_types(api):
    mt = api.machine_types.get(project=PROJECT, zone=ZONE, machine_type="e2-standard-2")
    assert (mt.guest_cpus, mt.memory_mb) == (2, 8192)
    assert mt.self_link == f"{LINK}projects/{PROJECT}/zones/{ZONE}/machineTypes/e2-standard-2"
    names = {m.name for m in api.machine_types.list(project=PROJECT, zone=ZONE)}
    assert {"e2-micro", "e2-small", "e2-medium", "e2-standard-4", "n2-standard-2", "n2-standard-4",
            "n1-standard-1", "c3-standard-4"} <= names
    with pytest.raises(exceptions.NotFound) as exc:
        api.machine_types.get(project=PROJECT, zone=ZONE, machine_type="e2-huge")
    assert exc.value.errors[0]["reason"] == "notFound"
    filtered = api.machine_types.list(request=compute_v1.ListMachineTypesRequest(
        project=PROJECT, zone=ZONE, filter="name eq e2-.*"))
    assert {m.name for m in filtered} == {n for n in names if n.startswith("e2-")}


def test_image_families(api):
    img = api.images.get_from_family(project="cos-cloud", family="cos-stable")
    assert img.name == "cos-stable-121-18867-199-28" and img.family == "cos-stable"
    assert not img.deprecated.state
    for fam in ("cos-beta", "cos-dev", "cos-121-lts", "cos-117-lts", "cos-arm64-stable", "cos-arm64-121-lts"):
        got = api.images.get_from_family(project="cos-cloud", family=fam)
        assert got.family == fam and not got.deprecated.state
    assert api.images.get_from_family(project="cos-cloud", family="cos-arm64-stable").architecture == "ARM64"
    old = api.images.get(project="cos-cloud", image="cos-stable-121-18867-90-38")
    assert old.deprecated.state == "DEPRECATED" and old.deprecated.replacement.endswith(img.name)
    images = list(api.images.list(project="cos-cloud"))
    assert any(i.deprecated.state for i in images) and len(images) >= 20
    with pytest.raises(exceptions.NotFound) as exc:
        api.images.get_from_family(project="cos-cloud", family="cos-nope")
    assert exc.value.errors[0]["message"] == (
        "The resource 'projects/cos-cloud/global/images/family/cos-nope' was not found")


def test_default_network_and_project(api):
    net = api.networks.get(project=PROJECT, network="default")
    assert net.auto_create_subnetworks
    assert any("/regions/us-central1/subnetworks/default" in s for s in net.subnetworks)
    proj = api.projects.get(project=PROJECT)
    assert proj.name == PROJECT and proj.id > 0


def test_disk_types(api):
    client = api.srv.client(compute_v1.DiskTypesClient)
    assert client.get(project=PROJECT, zone=ZONE, disk_type="pd-balanced").default_disk_size_gb == 100
    assert {d.name for d in client.list(project=PROJECT, zone=ZONE)} >= {"pd-standard", "pd-ssd", "pd-balanced"}


def test_addresses_use_region_operations(api):
    client = api.srv.client(compute_v1.AddressesClient)
    op = client.insert_unary(project=PROJECT, region="us-central1", address_resource=compute_v1.Address(name="ip-1"))
    assert op.region == f"{LINK}projects/{PROJECT}/regions/us-central1"
    done = api.ok(op)
    assert done.operation_type == "insert"
    addr = client.get(project=PROJECT, region="us-central1", address="ip-1")
    assert addr.address and addr.status == "RESERVED"
    ops = list(api.region_ops.list(project=PROJECT, region="us-central1"))
    assert [o.name for o in ops] == [op.name]
    api.ok(client.delete_unary(project=PROJECT, region="us-central1", address="ip-1"))
    with pytest.raises(exceptions.NotFound):
        client.get(project=PROJECT, region="us-central1", address="ip-1")


def test_only_listed_projects_exist_when_given():
    from localgce.testing import LocalGCE

    with LocalGCE.start(projects=["only-this"]) as srv:
        zones = srv.client(compute_v1.ZonesClient)
        assert zones.get(project="only-this", zone=ZONE).name == ZONE
        with pytest.raises(exceptions.NotFound) as exc:
            zones.get(project="other", zone=ZONE)
        assert exc.value.errors[0]["message"] == "The resource 'projects/other' was not found"
        # cos-cloud images are always there
        assert srv.client(compute_v1.ImagesClient).get_from_family(project="cos-cloud", family="cos-stable").name
