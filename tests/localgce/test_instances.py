"""instances: every method and semantic, through the real client."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1
from lgce_api import COS_FAMILY, PROJECT, ZONE

LINK = "https://www.googleapis.com/compute/v1/"


def reason(exc):
    return exc.value.errors[0]["reason"]


def test_insert_fills_what_the_api_fills(api):
    inst = api.create_instance(
        "vm-1",
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default",
                                                        access_configs=[compute_v1.AccessConfig()])],
        labels={"app": "web"},
        tags=compute_v1.Tags(items=["http-server"]),
        metadata=compute_v1.Metadata(items=[compute_v1.Items(key="k", value="v")]),
    )
    assert inst.status == "RUNNING"
    assert inst.self_link == f"{LINK}projects/{PROJECT}/zones/{ZONE}/instances/vm-1"
    assert inst.zone == f"{LINK}projects/{PROJECT}/zones/{ZONE}"
    assert inst.machine_type == f"{LINK}projects/{PROJECT}/zones/{ZONE}/machineTypes/e2-small"
    assert inst.id > 0 and inst.creation_timestamp and inst.cpu_platform
    assert inst.label_fingerprint and inst.metadata.fingerprint and inst.tags.fingerprint and inst.fingerprint
    assert inst.labels == {"app": "web"} and list(inst.tags.items) == ["http-server"]
    nic = inst.network_interfaces[0]
    assert nic.network == f"{LINK}projects/{PROJECT}/global/networks/default"
    assert nic.subnetwork == f"{LINK}projects/{PROJECT}/regions/us-central1/subnetworks/default"
    assert nic.network_i_p.startswith("10.128.0.")
    assert nic.access_configs[0].nat_i_p and nic.access_configs[0].type_ == "ONE_TO_ONE_NAT"
    assert inst.scheduling.on_host_maintenance == "MIGRATE" and inst.scheduling.automatic_restart
    assert inst.shielded_instance_config.enable_vtpm
    boot = inst.disks[0]
    assert boot.boot and boot.auto_delete and boot.device_name == "persistent-disk-0" and boot.mode == "READ_WRITE"
    assert boot.source == f"{LINK}projects/{PROJECT}/zones/{ZONE}/disks/vm-1"
    disk = api.disks.get(project=PROJECT, zone=ZONE, disk="vm-1")
    assert list(disk.users) == [inst.self_link]
    assert disk.source_image.startswith(f"{LINK}projects/cos-cloud/global/images/cos-stable-")
    assert disk.last_attach_timestamp


def test_network_references_in_every_form(api):
    forms = ["global/networks/default", f"projects/{PROJECT}/global/networks/default",
             f"{LINK}projects/{PROJECT}/global/networks/default"]
    for i, net in enumerate(forms):
        inst = api.create_instance(f"vm-n{i}", network_interfaces=[compute_v1.NetworkInterface(network=net)])
        assert inst.network_interfaces[0].network == f"{LINK}projects/{PROJECT}/global/networks/default"
    ips = {api.instances.get(project=PROJECT, zone=ZONE, instance=f"vm-n{i}").network_interfaces[0].network_i_p
           for i in range(3)}
    assert len(ips) == 3
    inst = api.create_instance("vm-sub", network_interfaces=[compute_v1.NetworkInterface(
        subnetwork="regions/us-central1/subnetworks/default")])
    assert inst.network_interfaces[0].network.endswith("/global/networks/default")


def test_insert_existing_name_is_409_already_exists(api):
    api.create_instance("vm-1")
    with pytest.raises(exceptions.Conflict) as exc:
        api.instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=api.instance_resource("vm-1"))
    assert reason(exc) == "alreadyExists"
    assert exc.value.errors[0]["message"] == (
        f"The resource 'projects/{PROJECT}/zones/{ZONE}/instances/vm-1' already exists")


def test_get_missing_is_404_not_found(api):
    with pytest.raises(exceptions.NotFound) as exc:
        api.instances.get(project=PROJECT, zone=ZONE, instance="ghost")
    assert reason(exc) == "notFound"
    assert exc.value.errors[0]["message"] == (
        f"The resource 'projects/{PROJECT}/zones/{ZONE}/instances/ghost' was not found")


@pytest.mark.parametrize("field,value,exc_type,why", [
    ("machine_type", "zones/us-central1-a/machineTypes/e2-nope", exceptions.BadRequest, "does not exist"),
    ("machine_type", "e2-small", exceptions.BadRequest, "Must be a URL"),
    ("machine_type", "zones/us-central1-b/machineTypes/e2-small", exceptions.BadRequest, "does not match"),
])
def test_insert_validates_machine_type(api, field, value, exc_type, why):
    res = api.instance_resource("vm-x", **{field: value})
    with pytest.raises(exc_type) as exc:
        api.instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=res)
    assert reason(exc) == "invalid" and why in exc.value.errors[0]["message"]


def test_insert_validates_image_network_and_disk_references(api):
    bad_image = [compute_v1.AttachedDisk(boot=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
        source_image="projects/cos-cloud/global/images/family/cos-nope"))]
    with pytest.raises(exceptions.NotFound) as exc:
        api.instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=api.instance_resource(
            "vm-x", disks=bad_image))
    assert "projects/cos-cloud/global/images/family/cos-nope" in exc.value.errors[0]["message"]
    with pytest.raises(exceptions.NotFound):
        api.instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=api.instance_resource(
            "vm-x", network_interfaces=[compute_v1.NetworkInterface(network="global/networks/nope")]))
    with pytest.raises(exceptions.NotFound):
        api.instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=api.instance_resource(
            "vm-x", disks=[compute_v1.AttachedDisk(boot=True, source=f"zones/{ZONE}/disks/nope")]))
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.get(project=PROJECT, zone="us-central1-z", instance="x")
    assert "Unknown zone" in exc.value.errors[0]["message"]
    assert api.srv.get_resource(f"projects/{PROJECT}/zones/{ZONE}/instances/vm-x") is None


def test_insert_with_existing_boot_disk_and_data_disk(api):
    boot = api.create_disk("boot-1", source_image=COS_FAMILY)
    data = api.create_disk("data-1", size_gb=20)
    inst = api.create_instance("vm-2", disks=[
        compute_v1.AttachedDisk(boot=True, source=boot.self_link),
        compute_v1.AttachedDisk(source=f"zones/{ZONE}/disks/data-1", device_name="data"),
    ])
    assert [d.device_name for d in inst.disks] == ["persistent-disk-0", "data"]
    assert [d.index for d in inst.disks] == [0, 1]
    assert not inst.disks[0].auto_delete
    assert list(api.disks.get(project=PROJECT, zone=ZONE, disk="data-1").users) == [inst.self_link]
    assert data.size_gb == 20


def test_read_write_disk_attached_to_second_instance_is_refused(api):
    api.create_disk("shared")
    api.create_instance("vm-a", disks=[api.instance_resource("x").disks[0],
                                       compute_v1.AttachedDisk(source=f"zones/{ZONE}/disks/shared")])
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=api.instance_resource(
            "vm-b", disks=[api.instance_resource("vm-b").disks[0],
                           compute_v1.AttachedDisk(source=f"zones/{ZONE}/disks/shared")]))
    assert reason(exc) == "resourceInUseByAnotherResource"
    api.create_instance("vm-c")
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.attach_disk_unary(project=PROJECT, zone=ZONE, instance="vm-c",
                                        attached_disk_resource=compute_v1.AttachedDisk(source=f"zones/{ZONE}/disks/shared"))
    assert reason(exc) == "resourceInUseByAnotherResource"
    assert exc.value.errors[0]["message"] == (
        f"The disk resource 'projects/{PROJECT}/zones/{ZONE}/disks/shared' is already being used by "
        f"'projects/{PROJECT}/zones/{ZONE}/instances/vm-a'")


def test_read_only_disk_can_be_shared(api):
    api.create_disk("ro")
    for name in ("vm-r1", "vm-r2"):
        api.create_instance(name)
        api.ok(api.instances.attach_disk_unary(project=PROJECT, zone=ZONE, instance=name,
                                               attached_disk_resource=compute_v1.AttachedDisk(
                                                   source=f"zones/{ZONE}/disks/ro", mode="READ_ONLY")))
    assert len(api.disks.get(project=PROJECT, zone=ZONE, disk="ro").users) == 2


def test_attach_and_detach_disk(api):
    api.create_instance("vm-1")
    api.create_disk("data-1")
    api.ok(api.instances.attach_disk_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                           attached_disk_resource=compute_v1.AttachedDisk(source=f"zones/{ZONE}/disks/data-1")))
    inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    # The API's default device name is persistent-disk-N (gcloud, not the API, uses the disk name).
    assert [d.device_name for d in inst.disks] == ["persistent-disk-0", "persistent-disk-1"]
    assert inst.disks[1].index == 1
    with pytest.raises(exceptions.BadRequest):
        api.instances.detach_disk_unary(project=PROJECT, zone=ZONE, instance="vm-1", device_name="nope")
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.detach_disk_unary(project=PROJECT, zone=ZONE, instance="vm-1", device_name="persistent-disk-0")
    assert reason(exc) == "invalidResourceUsage"
    api.ok(api.instances.detach_disk_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                           device_name="persistent-disk-1"))
    inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    assert [d.device_name for d in inst.disks] == ["persistent-disk-0"]
    disk = api.disks.get(project=PROJECT, zone=ZONE, disk="data-1")
    assert not disk.users and disk.last_detach_timestamp


def test_list_and_aggregated_list(api):
    api.create_instance("vm-b", labels={"env": "prod"})
    api.create_instance("vm-a", labels={"env": "dev"})
    api.ok(api.instances.insert_unary(project=PROJECT, zone="europe-west1-b", instance_resource=api.instance_resource(
        "vm-eu", machine_type="zones/europe-west1-b/machineTypes/e2-small")), zone="europe-west1-b")
    names = [i.name for i in api.instances.list(project=PROJECT, zone=ZONE)]
    assert names == ["vm-a", "vm-b"]
    assert [i.name for i in api.instances.list(request=compute_v1.ListInstancesRequest(
        project=PROJECT, zone=ZONE, filter="labels.env = prod"))] == ["vm-b"]
    assert [i.name for i in api.instances.list(request=compute_v1.ListInstancesRequest(
        project=PROJECT, zone=ZONE, filter='name = "vm-a"'))] == ["vm-a"]
    paged = api.instances.list(request=compute_v1.ListInstancesRequest(project=PROJECT, zone=ZONE, max_results=1))
    assert [i.name for i in paged] == ["vm-a", "vm-b"]  # the pager follows nextPageToken
    agg = dict(api.instances.aggregated_list(project=PROJECT))
    assert sorted(i.name for i in agg[f"zones/{ZONE}"].instances) == ["vm-a", "vm-b"]
    assert [i.name for i in agg["zones/europe-west1-b"].instances] == ["vm-eu"]
    assert agg["zones/asia-east1-a"].warning.code == "NO_RESULTS_ON_PAGE"


def test_stop_start_reset_lifecycle(api):
    api.create_instance("vm-1")
    api.ok(api.instances.stop_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    assert inst.status == "TERMINATED" and inst.last_stop_timestamp
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.reset_unary(project=PROJECT, zone=ZONE, instance="vm-1")
    assert reason(exc) == "resourceNotReady"
    api.ok(api.instances.start_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    assert api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1").status == "RUNNING"
    api.ok(api.instances.reset_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    out = api.instances.get_serial_port_output(project=PROJECT, zone=ZONE, instance="vm-1")
    assert "booting" in out.contents and "stopped" in out.contents and "reset" in out.contents
    tail = api.instances.get_serial_port_output(request=compute_v1.GetSerialPortOutputInstanceRequest(
        project=PROJECT, zone=ZONE, instance="vm-1", start=out.next_))
    assert tail.contents == "" and tail.start == out.next_


def test_status_goes_through_provisioning_staging_running_with_a_delay(api):
    api.srv.config(operation_delay=0.6)
    op = api.instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=api.instance_resource("vm-slow"))
    assert op.status == compute_v1.Operation.Status.PENDING
    seen = set()
    while True:
        inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-slow")
        seen.add(inst.status)
        cur = api.zone_ops.get(project=PROJECT, zone=ZONE, operation=op.name)
        seen.add("op-" + compute_v1.Operation.Status(cur.status).name)
        if cur.status == compute_v1.Operation.Status.DONE:
            break
    assert api.instances.get(project=PROJECT, zone=ZONE, instance="vm-slow").status == "RUNNING"
    assert {"PROVISIONING", "STAGING", "op-PENDING", "op-RUNNING", "op-DONE"} <= seen
    op = api.instances.stop_unary(project=PROJECT, zone=ZONE, instance="vm-slow")
    seen = set()
    while api.zone_ops.get(project=PROJECT, zone=ZONE, operation=op.name).status != compute_v1.Operation.Status.DONE:
        seen.add(api.instances.get(project=PROJECT, zone=ZONE, instance="vm-slow").status)
    assert "STOPPING" in seen
    assert api.instances.get(project=PROJECT, zone=ZONE, instance="vm-slow").status == "TERMINATED"


def test_delete_removes_auto_delete_disks_and_frees_others(api):
    api.create_disk("keep")
    api.create_instance("vm-1", disks=[api.instance_resource("x").disks[0],
                                       compute_v1.AttachedDisk(source=f"zones/{ZONE}/disks/keep")])
    api.ok(api.instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    with pytest.raises(exceptions.NotFound):
        api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    with pytest.raises(exceptions.NotFound):
        api.disks.get(project=PROJECT, zone=ZONE, disk="vm-1")
    assert not api.disks.get(project=PROJECT, zone=ZONE, disk="keep").users
    with pytest.raises(exceptions.NotFound):
        api.instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm-1")


def test_deletion_protection_blocks_delete(api):
    api.create_instance("vm-p", deletion_protection=True)
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm-p")
    assert reason(exc) == "invalidResourceUsage"
    assert "protected against deletion" in exc.value.errors[0]["message"]
    api.ok(api.instances.set_deletion_protection_unary(request=compute_v1.SetDeletionProtectionInstanceRequest(
        project=PROJECT, zone=ZONE, resource="vm-p", deletion_protection=False)))
    assert not api.instances.get(project=PROJECT, zone=ZONE, instance="vm-p").deletion_protection
    api.ok(api.instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm-p"))


def test_set_metadata_needs_the_current_fingerprint(api):
    inst = api.create_instance("vm-1", metadata=compute_v1.Metadata(items=[compute_v1.Items(key="a", value="1")]))
    fp = inst.metadata.fingerprint
    md = compute_v1.Metadata(fingerprint=fp, items=[compute_v1.Items(key="a", value="2")])
    api.ok(api.instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm-1", metadata_resource=md))
    inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    assert inst.metadata.items[0].value == "2" and inst.metadata.fingerprint != fp
    with pytest.raises(exceptions.PreconditionFailed) as exc:
        api.instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm-1", metadata_resource=md)
    assert reason(exc) == "conditionNotMet"
    # Clearing metadata sends only the fingerprint (empty lists are dropped on the wire).
    api.ok(api.instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                            metadata_resource=compute_v1.Metadata(fingerprint=inst.metadata.fingerprint)))
    assert not api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1").metadata.items


def test_metadata_limits_and_duplicates(api):
    inst = api.create_instance("vm-1")
    big = compute_v1.Metadata(fingerprint=inst.metadata.fingerprint,
                              items=[compute_v1.Items(key="big", value="x" * (256 * 1024 + 1))])
    with pytest.raises(exceptions.BadRequest):
        api.instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm-1", metadata_resource=big)
    dup = compute_v1.Metadata(fingerprint=inst.metadata.fingerprint,
                              items=[compute_v1.Items(key="a", value="1"), compute_v1.Items(key="a", value="2")])
    with pytest.raises(exceptions.BadRequest):
        api.instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm-1", metadata_resource=dup)
    bad_key = compute_v1.Metadata(fingerprint=inst.metadata.fingerprint, items=[compute_v1.Items(key="a b", value="1")])
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm-1", metadata_resource=bad_key)
    assert reason(exc) == "invalid"


def test_set_labels_and_tags_need_fingerprints(api):
    inst = api.create_instance("vm-1", labels={"a": "1"}, tags=compute_v1.Tags(items=["x"]))
    req = compute_v1.InstancesSetLabelsRequest(label_fingerprint=inst.label_fingerprint, labels={"b": "2"})
    api.ok(api.instances.set_labels_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                          instances_set_labels_request_resource=req))
    with pytest.raises(exceptions.PreconditionFailed) as exc:
        api.instances.set_labels_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                       instances_set_labels_request_resource=req)
    assert reason(exc) == "conditionNotMet"
    after = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    assert after.labels == {"b": "2"} and after.label_fingerprint != inst.label_fingerprint
    tags = compute_v1.Tags(fingerprint=inst.tags.fingerprint, items=["y", "z"])
    api.ok(api.instances.set_tags_unary(project=PROJECT, zone=ZONE, instance="vm-1", tags_resource=tags))
    with pytest.raises(exceptions.PreconditionFailed) as exc:
        api.instances.set_tags_unary(project=PROJECT, zone=ZONE, instance="vm-1", tags_resource=tags)
    assert reason(exc) == "conditionNotMet"
    after = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    assert list(after.tags.items) == ["y", "z"] and after.tags.fingerprint != inst.tags.fingerprint
    bad = compute_v1.InstancesSetLabelsRequest(label_fingerprint=after.label_fingerprint, labels={"Bad": "x"})
    with pytest.raises(exceptions.BadRequest):
        api.instances.set_labels_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                       instances_set_labels_request_resource=bad)


def test_machine_type_and_service_account_need_terminated(api):
    api.create_instance("vm-1")
    mt = compute_v1.InstancesSetMachineTypeRequest(machine_type=f"zones/{ZONE}/machineTypes/e2-medium")
    sa = compute_v1.InstancesSetServiceAccountRequest(email="sa@test-project.iam.gserviceaccount.com",
                                                      scopes=["https://www.googleapis.com/auth/cloud-platform"])
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.set_machine_type_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                             instances_set_machine_type_request_resource=mt)
    assert reason(exc) == "invalidResourceUsage"
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.set_service_account_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                                instances_set_service_account_request_resource=sa)
    assert reason(exc) == "invalidResourceUsage"
    api.ok(api.instances.stop_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    api.ok(api.instances.set_machine_type_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                                instances_set_machine_type_request_resource=mt))
    api.ok(api.instances.set_service_account_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                                   instances_set_service_account_request_resource=sa))
    inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    assert inst.machine_type.endswith("/machineTypes/e2-medium")
    assert inst.service_accounts[0].email == "sa@test-project.iam.gserviceaccount.com"
    bad = compute_v1.InstancesSetMachineTypeRequest(machine_type=f"zones/{ZONE}/machineTypes/nope")
    with pytest.raises(exceptions.BadRequest):
        api.instances.set_machine_type_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                             instances_set_machine_type_request_resource=bad)


def test_same_request_id_returns_the_same_operation(api):
    rid = "0b3c9c1e-8f1f-4e7b-9a41-6b2d5c0e7a11"
    req = compute_v1.InsertInstanceRequest(project=PROJECT, zone=ZONE, request_id=rid,
                                           instance_resource=api.instance_resource("vm-1"))
    op1 = api.instances.insert_unary(request=req)
    op2 = api.instances.insert_unary(request=req)
    assert op1.name == op2.name and op1.id == op2.id
    assert len(list(api.instances.list(project=PROJECT, zone=ZONE))) == 1


def test_get_guest_attributes_without_any_is_404_for_a_namespace(api):
    api.create_instance("vm-1")
    with pytest.raises(exceptions.NotFound):
        api.instances.get_guest_attributes(request=compute_v1.GetGuestAttributesInstanceRequest(
            project=PROJECT, zone=ZONE, instance="vm-1", query_path="cos-agent/"))


def test_set_disk_auto_delete(api):
    api.create_instance("vm-1")
    req = compute_v1.SetDiskAutoDeleteInstanceRequest(project=PROJECT, zone=ZONE, instance="vm-1",
                                                      device_name="persistent-disk-0", auto_delete=False)
    api.ok(api.instances.set_disk_auto_delete_unary(request=req))
    assert not api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1").disks[0].auto_delete
    api.ok(api.instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    assert not api.disks.get(project=PROJECT, zone=ZONE, disk="vm-1").users  # kept, and free
    with pytest.raises(exceptions.NotFound):
        api.instances.set_disk_auto_delete_unary(request=req)
    api.create_instance("vm-2")
    req = compute_v1.SetDiskAutoDeleteInstanceRequest(project=PROJECT, zone=ZONE, instance="vm-2",
                                                      device_name="nope", auto_delete=True)
    with pytest.raises(exceptions.BadRequest):
        api.instances.set_disk_auto_delete_unary(request=req)


def test_custom_machine_types(api):
    inst = api.create_instance("vm-c", machine_type=f"zones/{ZONE}/machineTypes/e2-custom-4-8192")
    assert inst.machine_type.endswith("/machineTypes/e2-custom-4-8192")
    mt = api.machine_types.get(project=PROJECT, zone=ZONE, machine_type="custom-2-4096")
    assert (mt.guest_cpus, mt.memory_mb) == (2, 4096)
    with pytest.raises(exceptions.BadRequest):
        api.instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=api.instance_resource(
            "vm-bad", machine_type=f"zones/{ZONE}/machineTypes/custom-3-1000"))


def test_instance_templates_and_insert_from_one(api):
    templates = api.srv.client(compute_v1.InstanceTemplatesClient)
    props = compute_v1.InstanceProperties(
        machine_type="e2-medium", labels={"from": "template"},
        metadata=compute_v1.Metadata(items=[compute_v1.Items(key="k", value="template")]),
        disks=[compute_v1.AttachedDisk(
            boot=True, auto_delete=True,
            initialize_params=compute_v1.AttachedDiskInitializeParams(source_image=COS_FAMILY,
                                                                      disk_type="pd-balanced"))],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")])
    api.ok(templates.insert_unary(project=PROJECT, instance_template_resource=compute_v1.InstanceTemplate(
        name="tmpl-1", properties=props)))
    tmpl = templates.get(project=PROJECT, instance_template="tmpl-1")
    assert tmpl.properties.machine_type == "e2-medium"
    assert [t.name for t in templates.list(project=PROJECT)] == ["tmpl-1"]
    with pytest.raises(exceptions.BadRequest):
        templates.insert_unary(project=PROJECT, instance_template_resource=compute_v1.InstanceTemplate(
            name="tmpl-2",
            properties=compute_v1.InstanceProperties(machine_type=f"zones/{ZONE}/machineTypes/e2-small")))
    req = compute_v1.InsertInstanceRequest(
        project=PROJECT, zone=ZONE, source_instance_template="global/instanceTemplates/tmpl-1",
        instance_resource=compute_v1.Instance(name="vm-t", labels={"from": "request"}))
    api.ok(api.instances.insert_unary(request=req))
    inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-t")
    assert inst.machine_type.endswith(f"/zones/{ZONE}/machineTypes/e2-medium")
    assert inst.labels == {"from": "request"} and inst.metadata.items[0].value == "template"
    assert api.disks.get(project=PROJECT, zone=ZONE, disk="vm-t").type_.endswith("/diskTypes/pd-balanced")
    with pytest.raises(exceptions.NotFound):
        api.instances.insert_unary(request=compute_v1.InsertInstanceRequest(
            project=PROJECT, zone=ZONE, source_instance_template="global/instanceTemplates/nope",
            instance_resource=compute_v1.Instance(name="vm-u")))
    api.ok(templates.delete_unary(project=PROJECT, instance_template="tmpl-1"))
    with pytest.raises(exceptions.NotFound):
        templates.get(project=PROJECT, instance_template="tmpl-1")
