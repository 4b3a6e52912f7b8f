"""disks and snapshots through the real client."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1
from lgce_api import COS_FAMILY, PROJECT, ZONE

LINK = "https://www.googleapis.com/compute/v1/"


def reason(exc):
    return exc.value.errors[0]["reason"]


def test_blank_disk_defaults(api):
    op = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="blank"))
    api.ok(op)
    disk = api.disks.get(project=PROJECT, zone=ZONE, disk="blank")
    assert disk.size_gb == 500  # pd-standard default
    assert disk.type_ == f"{LINK}projects/{PROJECT}/zones/{ZONE}/diskTypes/pd-standard"
    assert disk.status == "READY" and disk.id and disk.label_fingerprint
    assert disk.self_link == f"{LINK}projects/{PROJECT}/zones/{ZONE}/disks/blank"
    ssd = api.create_disk("ssd", size_gb=None, type_=f"zones/{ZONE}/diskTypes/pd-ssd")
    assert ssd.size_gb == 100


def test_disk_from_image_and_family(api):
    disk = api.create_disk("boot", size_gb=20, source_image=COS_FAMILY)
    assert disk.source_image == f"{LINK}projects/cos-cloud/global/images/cos-stable-121-18867-199-28"
    assert disk.source_image_id and disk.architecture == "X86_64"
    # sourceImage as a query parameter (disks.insert accepts both)
    op = api.disks.insert_unary(request=compute_v1.InsertDiskRequest(
        project=PROJECT, zone=ZONE, source_image="projects/cos-cloud/global/images/cos-117-18613-164-98",
        disk_resource=compute_v1.Disk(name="boot2")))
    api.ok(op)
    assert api.disks.get(project=PROJECT, zone=ZONE, disk="boot2").source_image.endswith("/cos-117-18613-164-98")
    assert api.disks.get(project=PROJECT, zone=ZONE, disk="boot2").size_gb == 10  # the image's size
    with pytest.raises(exceptions.BadRequest) as exc:
        api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(
            name="tiny", size_gb=5, source_image=COS_FAMILY))
    assert "smaller than the image size" in exc.value.errors[0]["message"]
    with pytest.raises(exceptions.NotFound):
        api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(
            name="x", source_image="projects/cos-cloud/global/images/no-such-image"))


def test_disk_from_snapshot(api, localgce):
    src = api.create_disk("src", size_gb=30)
    api.ok(api.snapshots.insert_unary(project=PROJECT, snapshot_resource=compute_v1.Snapshot(
        name="snap-1", source_disk=src.self_link)))
    snap = api.snapshots.get(project=PROJECT, snapshot="snap-1")
    assert snap.disk_size_gb == 30 and snap.source_disk == src.self_link and snap.status == "READY"
    disk = api.create_disk("restored", size_gb=None, source_snapshot="global/snapshots/snap-1")
    assert disk.size_gb == 30 and disk.source_snapshot == snap.self_link and disk.source_snapshot_id == str(snap.id)
    # a snapshot made through the control API
    localgce.app.handle("POST", "/_localgce/snapshots", {}, b'{"project": "test-project", "name": "seeded", '
                        b'"diskSizeGb": 15}')
    assert api.create_disk("from-seeded", size_gb=None, source_snapshot="global/snapshots/seeded").size_gb == 15
    with pytest.raises(exceptions.NotFound):
        api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(
            name="x", source_snapshot="global/snapshots/nope"))
    api.ok(api.disks.create_snapshot_unary(project=PROJECT, zone=ZONE, disk="src",
                                           snapshot_resource=compute_v1.Snapshot(name="snap-2")))
    assert {s.name for s in api.snapshots.list(project=PROJECT)} == {"snap-1", "snap-2", "seeded"}
    api.ok(api.snapshots.delete_unary(project=PROJECT, snapshot="snap-2"))
    with pytest.raises(exceptions.NotFound):
        api.snapshots.get(project=PROJECT, snapshot="snap-2")


def test_insert_existing_disk_is_409(api):
    api.create_disk("d1")
    with pytest.raises(exceptions.Conflict) as exc:
        api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1"))
    assert reason(exc) == "alreadyExists"
    assert exc.value.errors[0]["message"] == f"The resource 'projects/{PROJECT}/zones/{ZONE}/disks/d1' already exists"


def test_get_list_aggregated_delete(api):
    api.create_disk("b-disk")
    api.create_disk("a-disk", labels={"role": "data"})
    assert [d.name for d in api.disks.list(project=PROJECT, zone=ZONE)] == ["a-disk", "b-disk"]
    agg = dict(api.disks.aggregated_list(project=PROJECT))
    assert sorted(d.name for d in agg[f"zones/{ZONE}"].disks) == ["a-disk", "b-disk"]
    api.ok(api.disks.delete_unary(project=PROJECT, zone=ZONE, disk="a-disk"))
    with pytest.raises(exceptions.NotFound) as exc:
        api.disks.get(project=PROJECT, zone=ZONE, disk="a-disk")
    assert reason(exc) == "notFound"
    with pytest.raises(exceptions.NotFound):
        api.disks.delete_unary(project=PROJECT, zone=ZONE, disk="a-disk")


def test_resize_grows_only(api):
    api.create_disk("d1", size_gb=10)
    api.ok(api.disks.resize_unary(project=PROJECT, zone=ZONE, disk="d1",
                                  disks_resize_request_resource=compute_v1.DisksResizeRequest(size_gb=25)))
    assert api.disks.get(project=PROJECT, zone=ZONE, disk="d1").size_gb == 25
    with pytest.raises(exceptions.BadRequest) as exc:
        api.disks.resize_unary(project=PROJECT, zone=ZONE, disk="d1",
                               disks_resize_request_resource=compute_v1.DisksResizeRequest(size_gb=20))
    assert reason(exc) == "invalid"
    assert api.disks.get(project=PROJECT, zone=ZONE, disk="d1").size_gb == 25


def test_set_labels_needs_fingerprint(api):
    disk = api.create_disk("d1")
    req = compute_v1.ZoneSetLabelsRequest(label_fingerprint=disk.label_fingerprint, labels={"a": "b"})
    api.ok(api.disks.set_labels_unary(project=PROJECT, zone=ZONE, resource="d1", zone_set_labels_request_resource=req))
    after = api.disks.get(project=PROJECT, zone=ZONE, disk="d1")
    assert after.labels == {"a": "b"} and after.label_fingerprint != disk.label_fingerprint
    with pytest.raises(exceptions.PreconditionFailed) as exc:
        api.disks.set_labels_unary(project=PROJECT, zone=ZONE, resource="d1", zone_set_labels_request_resource=req)
    assert reason(exc) == "conditionNotMet"
    clear = compute_v1.ZoneSetLabelsRequest(label_fingerprint=after.label_fingerprint)
    api.ok(api.disks.set_labels_unary(project=PROJECT, zone=ZONE, resource="d1",
                                      zone_set_labels_request_resource=clear))
    assert not api.disks.get(project=PROJECT, zone=ZONE, disk="d1").labels


def test_attached_disk_cannot_be_deleted(api):
    api.create_disk("d1")
    api.create_instance("vm-1", disks=[api.instance_resource("x").disks[0],
                                       compute_v1.AttachedDisk(source=f"zones/{ZONE}/disks/d1")])
    with pytest.raises(exceptions.BadRequest) as exc:
        api.disks.delete_unary(project=PROJECT, zone=ZONE, disk="d1")
    assert reason(exc) == "resourceInUseByAnotherResource"
    assert "instances/vm-1" in exc.value.errors[0]["message"]
    with pytest.raises(exceptions.BadRequest):
        api.disks.delete_unary(project=PROJECT, zone=ZONE, disk="vm-1")  # the boot disk


def test_unknown_disk_type_is_404(api):
    with pytest.raises(exceptions.NotFound):
        api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(
            name="x", type_=f"zones/{ZONE}/diskTypes/pd-nope"))


def test_resizing_an_attached_disk_shows_on_the_instance(api):
    api.create_instance("vm-1")
    api.ok(api.disks.resize_unary(project=PROJECT, zone=ZONE, disk="vm-1",
                                  disks_resize_request_resource=compute_v1.DisksResizeRequest(size_gb=30)))
    assert api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1").disks[0].disk_size_gb == 30


def test_deprecated_image_warns_and_obsolete_image_is_refused(api):
    op = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(
        name="old", source_image="projects/cos-cloud/global/images/cos-stable-121-18867-90-38"))
    assert op.warnings[0].code == "DEPRECATED_RESOURCE_USED"
    assert "cos-stable-121-18867-199-28" in op.warnings[0].message
    assert api.wait(op).warnings[0].code == "DEPRECATED_RESOURCE_USED"
    fresh = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(
        name="new", source_image=COS_FAMILY))
    assert not fresh.warnings
    with pytest.raises(exceptions.BadRequest) as exc:
        api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(
            name="obsolete", source_image="projects/cos-cloud/global/images/cos-stable-117-18613-164-98"))
    assert "is obsolete" in exc.value.errors[0]["message"]


def test_disk_type_must_be_a_url(api):
    with pytest.raises(exceptions.BadRequest) as exc:
        api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="x", type_="pd-ssd"))
    assert "Must be a URL" in exc.value.errors[0]["message"]
    full = api.create_disk("full", size_gb=None, type_=f"{LINK}projects/{PROJECT}/zones/{ZONE}/diskTypes/pd-ssd")
    assert full.size_gb == 100
