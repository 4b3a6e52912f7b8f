"""localgce with the simulator as its VM backend: the API's instance life cycle boots,
resets and stops a real VM, whose metadata server is localgce's own."""

import os
import time

import pytest
import requests

from localgce.vm import leaks
from localgce.vm.backend import SimulatorBackend

PROJECT, ZONE, NAME = "test-project", "us-central1-a", "api-vm-1"
USER_DATA = "#cloud-config\nwrite_files:\n- path: /etc/from-api\n  content: via the API\n"


@pytest.fixture
def api(rootfs, workdir):
    from localgce.testing import LocalGCE

    backend = SimulatorBackend(os.path.join(workdir, "backend"), port_forwards=[80], rootfs=rootfs)
    srv = LocalGCE.start(backend=backend)
    backend.bind(srv.app)
    try:
        yield srv, backend
    finally:
        backend.close()
        srv.stop()


def call(srv, method, path, **kw):
    r = requests.request(method, "%s/compute/v1/projects/%s/zones/%s/%s" % (srv.url, PROJECT, ZONE, path),
                         timeout=60, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def wait_status(srv, status, tries=600):
    for _ in range(tries):  # bounded by count; the VM boots in a few seconds
        inst = call(srv, "GET", "instances/" + NAME)
        if inst["status"] == status:
            return inst
        time.sleep(0.1)
    raise AssertionError("instance never reached %s (is %s)" % (status, inst["status"]))


MARK_STOP_UNIT = """[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/bin/sh -c 'cat /proc/sys/kernel/random/boot_id >> /var/stopped'
"""


def test_instance_life_cycle_drives_a_real_vm(api):
    srv, backend = api
    before = leaks.snapshot()
    body = {
        "name": NAME, "machineType": "zones/%s/machineTypes/e2-small" % ZONE,
        "disks": [{"boot": True, "autoDelete": True,
                   "initializeParams": {"sourceImage": "projects/cos-cloud/global/images/family/cos-stable"}}],
        "networkInterfaces": [{"network": "global/networks/default"}],
        "metadata": {"items": [{"key": "user-data", "value": USER_DATA}, {"key": "color", "value": "blue"}]},
    }
    call(srv, "POST", "instances", json=body)
    inst = wait_status(srv, "RUNNING")  # as soon as the VM runs; the guest may still be booting
    vm = backend.vm(inst["selfLink"])
    vm.wait_until_up()

    # The VM's metadata server is localgce's guest metadata for this instance.
    curl = ["curl", "-sS", "-H", "Metadata-Flavor: Google", "http://metadata.google.internal/computeMetadata/v1/"]
    curl_id = vm.exec([*curl[:-1], curl[-1] + "instance/id"])
    assert curl_id.stdout == str(inst["id"]), curl_id.stderr
    assert vm.exec([*curl[:-1], curl[-1] + "instance/attributes/color"]).stdout == "blue"
    result = vm.wait_cloud_init(timeout=120)
    assert result["datasource"].startswith("DataSourceGCE"), result  # read from the metadata server
    assert vm.exec(["cat", "/etc/from-api"]).stdout == "via the API"
    serial = call(srv, "GET", "instances/%s/serialPort" % NAME)["contents"]
    assert "Cloud-init v." in serial

    # A unit whose ExecStop records the boot it stopped in, under the persistent /var.
    stop_marker = ["sh", "-c", "cat > /etc/systemd/system/mark-stop.service && systemctl daemon-reload && "
                   "systemctl start mark-stop.service"]
    vm.exec(stop_marker, input=MARK_STOP_UNIT, check=True)
    boot_id = vm.boot_id()
    call(srv, "POST", "instances/%s/reset" % NAME)
    assert backend.wait_idle()
    assert vm.is_up() and vm.boot_id() != boot_id
    # instances.reset is a hard reset: the guest OS was not shut down, so no ExecStop ran.
    assert vm.exec(["test", "-e", "/var/stopped"]).returncode == 1

    vm.exec(stop_marker, input=MARK_STOP_UNIT, check=True)
    boot_id = vm.boot_id()
    # user-data changed through the API: cloud-init reads it from the metadata server at the next
    # boot (as on COS), with nothing seeded from the host.
    fingerprint = call(srv, "GET", "instances/" + NAME)["metadata"]["fingerprint"]
    call(srv, "POST", "instances/%s/setMetadata" % NAME, json={"fingerprint": fingerprint, "items": [
        {"key": "user-data", "value": USER_DATA.replace("via the API", "changed through the API")}]})
    call(srv, "POST", "instances/%s/stop" % NAME)
    wait_status(srv, "TERMINATED")
    assert backend.wait_idle()
    assert not vm.running()

    call(srv, "POST", "instances/%s/start" % NAME)
    wait_status(srv, "RUNNING")
    vm.wait_until_up()
    # instances.stop shuts the guest down in order: the unit was stopped in the boot before.
    assert vm.exec(["cat", "/var/stopped"], check=True).stdout.split() == [boot_id]
    vm.wait_cloud_init(timeout=120)
    assert vm.exec(["cat", "/etc/from-api"]).stdout == "changed through the API"  # a new /etc, new user-data

    call(srv, "DELETE", "instances/" + NAME)
    for _ in range(600):
        if NAME not in str(requests.get("%s/compute/v1/projects/%s/zones/%s/instances" % (srv.url, PROJECT, ZONE),
                                        timeout=30).json()):
            break
        time.sleep(0.1)
    assert backend.wait_idle()
    assert not os.path.exists(vm.state_dir)
    leaks.assert_clean(before, only=[vm.key, vm.state_dir, os.path.join(backend.state_root, "disks")])


def test_recreated_under_its_name_at_once_keeps_only_the_disks_not_deleted_with_it(api):
    """What a group's autohealing does: delete, then insert the same name at once. The new VM
    boots after the old one is gone; a disk deleted with the instance comes back blank, a kept
    disk keeps its data; the health prober reaches the VM's own address."""
    srv, backend = api
    before = leaks.snapshot()
    call(srv, "POST", "disks", json={"name": "kept-1", "sizeGb": "1"})
    body = {
        "name": NAME, "machineType": "zones/%s/machineTypes/e2-small" % ZONE,
        "disks": [{"boot": True, "autoDelete": True,
                   "initializeParams": {"sourceImage": "projects/cos-cloud/global/images/family/cos-stable"}},
                  {"deviceName": "scratch", "autoDelete": True, "initializeParams": {"diskSizeGb": "1"}},
                  {"deviceName": "kept", "autoDelete": False,
                   "source": "projects/%s/zones/%s/disks/kept-1" % (PROJECT, ZONE)}],
        "networkInterfaces": [{"network": "global/networks/default"}],
    }
    token = "token-%d" % time.monotonic_ns()
    head = ["head", "-c", str(len(token))]
    call(srv, "POST", "instances", json=body)
    inst = wait_status(srv, "RUNNING")
    vm = backend.vm(inst["selfLink"])
    vm.wait_until_up()
    for device in ("scratch", "kept"):
        vm.exec(["sh", "-c", "printf %s > /dev/disk/by-id/google-%s && sync" % (token, device)], check=True)
    # A server listening in the VM answers the prober's socket at the VM's own address, from its
    # network, once the VM's host firewall (COS's default DROP) accepts the port.
    vm.exec(["systemd-run", "--unit=probe-me", "python3", "-m", "http.server", "8081"], check=True)
    vm.exec(["iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "8081", "-j", "ACCEPT"], check=True)
    factory, address = backend.probe_socket(inst)
    for _ in range(100):
        with factory() as s:
            if s.connect_ex((address, 8081)) == 0:
                break
        time.sleep(0.1)
    else:
        raise AssertionError("the prober's socket never reached %s:8081 in the VM" % address)

    call(srv, "DELETE", "instances/" + NAME)
    call(srv, "POST", "instances", json=body)  # at once: the old VM is still going down
    again = wait_status(srv, "RUNNING")
    assert again["id"] != inst["id"]
    vm = backend.vm(again["selfLink"])
    assert vm.running(), backend.serial_output(again)[-3000:]
    vm.wait_until_up()
    assert vm.exec([*head, "/dev/disk/by-id/google-kept"], check=True).stdout == token
    assert vm.exec([*head, "/dev/disk/by-id/google-scratch"], check=True).stdout != token

    call(srv, "DELETE", "instances/" + NAME)
    assert backend.wait_idle()
    leaks.assert_clean(before, only=[vm.key, vm.state_dir, os.path.join(backend.state_root, "disks")])


# The guest's cloud-init holds its boot until the host creates /var/go (the VM's /var is a host dir).
HELD_USER_DATA = """#cloud-config
bootcmd:
- while [ ! -e /var/go ]; do sleep 0.2; done
"""
AFTER_RESET_USER_DATA = "#cloud-config\nwrite_files:\n- path: /etc/from-api\n  content: read at the reset\n"


def test_running_while_the_guest_boots_and_a_reset_boots_with_current_disks_and_metadata(api):
    """Compute Engine: an instance is RUNNING as soon as its VM starts, before the guest OS is up,
    and instances.reset is accepted then; a reset boots with the disks attached now and the
    metadata as it is now."""
    srv, backend = api
    before = leaks.snapshot()
    body = {
        "name": NAME, "machineType": "zones/%s/machineTypes/e2-small" % ZONE,
        "disks": [{"boot": True, "autoDelete": True,
                   "initializeParams": {"sourceImage": "projects/cos-cloud/global/images/family/cos-stable"}}],
        "networkInterfaces": [{"network": "global/networks/default"}],
        "metadata": {"items": [{"key": "user-data", "value": HELD_USER_DATA}]},
    }
    call(srv, "POST", "instances", json=body)
    inst = wait_status(srv, "RUNNING")  # the guest cannot finish booting before /var/go exists
    vm = backend.vm(inst["selfLink"])
    for _ in range(600):  # bounded: systemd inside starts within seconds
        if vm.pid1 and vm.system_state() in ("initializing", "starting") and vm.cloud_init_result() is None:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the guest is not booting (%s)" % vm.system_state())
    assert not vm.is_up() and call(srv, "GET", "instances/" + NAME)["status"] == "RUNNING"

    # While it boots: a disk is attached and the user-data changed; then a hard reset.
    call(srv, "POST", "disks", json={"name": "late-1", "sizeGb": "1"})
    call(srv, "POST", "instances/%s/attachDisk" % NAME,
         json={"source": "projects/%s/zones/%s/disks/late-1" % (PROJECT, ZONE), "deviceName": "late"})
    fingerprint = call(srv, "GET", "instances/" + NAME)["metadata"]["fingerprint"]
    call(srv, "POST", "instances/%s/setMetadata" % NAME, json={"fingerprint": fingerprint, "items": [
        {"key": "user-data", "value": AFTER_RESET_USER_DATA}]})
    assert vm.exec(["test", "-e", "/dev/disk/by-id/google-late"]).returncode == 1  # no hot plug
    boots = vm.boots
    call(srv, "POST", "instances/%s/reset" % NAME)  # accepted while the guest is still booting
    assert backend.wait_idle()
    assert vm.boots == boots + 1 and vm.is_up(), backend.serial_output(inst)[-3000:]
    vm.wait_cloud_init(timeout=120)
    assert vm.exec(["test", "-b", "/dev/disk/by-id/google-late"]).returncode == 0  # the disk attached now
    assert vm.exec(["cat", "/etc/from-api"]).stdout == "read at the reset"  # the metadata as it is now
    assert call(srv, "GET", "instances/" + NAME)["status"] == "RUNNING"

    call(srv, "DELETE", "instances/" + NAME)
    assert backend.wait_idle()
    leaks.assert_clean(before, only=[vm.key, vm.state_dir, os.path.join(backend.state_root, "disks")])
