"""Shared constants and client helpers of localgce's tests (imported by the test modules)."""

from __future__ import annotations

from google.cloud import compute_v1

PROJECT = "test-project"
ZONE = "us-central1-a"
COS_FAMILY = "projects/cos-cloud/global/images/family/cos-stable"


class Api:
    """The clients aimed at one localgce, plus small helpers the tests share."""

    def __init__(self, srv):
        self.srv = srv
        c = srv.client
        self.instances = c(compute_v1.InstancesClient)
        self.disks = c(compute_v1.DisksClient)
        self.images = c(compute_v1.ImagesClient)
        self.zones = c(compute_v1.ZonesClient)
        self.regions = c(compute_v1.RegionsClient)
        self.machine_types = c(compute_v1.MachineTypesClient)
        self.firewalls = c(compute_v1.FirewallsClient)
        self.snapshots = c(compute_v1.SnapshotsClient)
        self.networks = c(compute_v1.NetworksClient)
        self.projects = c(compute_v1.ProjectsClient)
        self.zone_ops = c(compute_v1.ZoneOperationsClient)
        self.region_ops = c(compute_v1.RegionOperationsClient)
        self.global_ops = c(compute_v1.GlobalOperationsClient)

    def wait(self, op, zone=ZONE, project=PROJECT):
        """Wait for an operation (a bounded loop: a wait answers after ~2 min even if not done)."""
        for _ in range(20):
            if op.zone:
                op = self.zone_ops.wait(project=project, zone=zone, operation=op.name)
            elif op.region:
                op = self.region_ops.wait(project=project, region=op.region.rsplit("/", 1)[-1], operation=op.name)
            else:
                op = self.global_ops.wait(project=project, operation=op.name)
            if op.status == compute_v1.Operation.Status.DONE:
                return op
        raise AssertionError(f"operation {op.name} never finished")

    def ok(self, op, **kw):
        op = self.wait(op, **kw)
        assert not op.error.errors, op.error
        return op

    def instance_resource(self, name, **extra):
        kw = dict(
            name=name,
            machine_type=f"zones/{ZONE}/machineTypes/e2-small",
            disks=[compute_v1.AttachedDisk(
                boot=True, auto_delete=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(source_image=COS_FAMILY))],
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
        )
        kw.update(extra)
        return compute_v1.Instance(**kw)

    def create_instance(self, name="vm-1", **extra):
        op = self.instances.insert_unary(project=PROJECT, zone=ZONE,
                                         instance_resource=self.instance_resource(name, **extra))
        self.ok(op)
        return self.instances.get(project=PROJECT, zone=ZONE, instance=name)

    def create_disk(self, name="data-1", size_gb=10, **extra):
        disk = compute_v1.Disk(name=name, size_gb=size_gb, **extra)
        self.ok(self.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=disk))
        return self.disks.get(project=PROJECT, zone=ZONE, disk=name)
