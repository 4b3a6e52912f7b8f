"""The VM backend hook: life-cycle transitions call it, and RUNNING waits for ready()."""

from __future__ import annotations

import threading

import pytest
from google.cloud import compute_v1
from lgce_api import PROJECT, ZONE, Api

from localgce.backend import NullBackend, where
from localgce.testing import LocalGCE

DONE = compute_v1.Operation.Status.DONE


class RecordingBackend(NullBackend):
    def __init__(self):
        self.calls = []
        self.up = threading.Event()

    def boot(self, instance):
        self.calls.append(("boot", where(instance)))

    def power_off(self, instance):
        self.calls.append(("power_off", instance["name"]))

    def reset(self, instance):
        self.calls.append(("reset", instance["name"]))

    def delete(self, instance):
        self.calls.append(("delete", instance["name"]))

    def serial_output(self, instance):
        return f"serial of {instance['name']}\n"

    def ready(self, instance):
        return self.up.is_set()

    def attach_disk(self, instance, attached):
        self.calls.append(("attach_disk", attached["deviceName"]))

    def detach_disk(self, instance, attached):
        self.calls.append(("detach_disk", attached["deviceName"]))


@pytest.fixture
def hooked():
    backend = RecordingBackend()
    srv = LocalGCE.start(backend=backend)
    yield Api(srv), backend
    srv.stop()


def test_running_only_once_the_backend_is_ready(hooked):
    api, backend = hooked
    op = api.instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=api.instance_resource("vm-1"))
    assert backend.calls == [("boot", (PROJECT, ZONE, "vm-1"))]
    assert api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1").status == "STAGING"
    assert api.zone_ops.get(project=PROJECT, zone=ZONE, operation=op.name).status != DONE
    backend.up.set()
    assert api.wait(op).status == DONE
    assert api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1").status == "RUNNING"


def test_stop_start_reset_delete_and_serial_reach_the_backend(hooked):
    api, backend = hooked
    backend.up.set()
    api.create_instance("vm-1")
    api.ok(api.instances.stop_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    api.ok(api.instances.start_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    api.ok(api.instances.reset_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    out = api.instances.get_serial_port_output(project=PROJECT, zone=ZONE, instance="vm-1")
    assert out.contents == "serial of vm-1\n"
    api.ok(api.instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    assert [c[0] for c in backend.calls] == ["boot", "power_off", "boot", "reset", "power_off", "delete"]


def test_guest_url_names_the_instance(hooked):
    api, _backend = hooked
    assert api.srv.guest_url("p", "z", "i") == f"{api.srv.url}/_localgce/guest/p/z/i/computeMetadata/v1/"


def test_optional_disk_hooks(hooked):
    api, backend = hooked
    backend.up.set()
    api.create_instance("vm-1")
    api.create_disk("d1")
    api.ok(api.instances.attach_disk_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                           attached_disk_resource=compute_v1.AttachedDisk(source=f"zones/{ZONE}/disks/d1")))
    api.ok(api.instances.detach_disk_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                           device_name="persistent-disk-1"))
    assert backend.calls[-2:] == [("attach_disk", "persistent-disk-1"), ("detach_disk", "persistent-disk-1")]
