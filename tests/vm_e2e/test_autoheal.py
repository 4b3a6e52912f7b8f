"""Autohealing with real VMs: a managed instance group of one VM whose template's user-data runs
a web container (host network, port 8080) on a stateful disk. localgce's health check probes the
VM's port; the container is killed (its unit never restarts it), the check fails, the group
recreates the VM under its name, and the new boot serves again from the same disk's data.
Everything is read back through google-cloud-compute."""

import os
import secrets

import pytest
import yaml
from google.cloud import compute_v1

from conftest import TOKEN, http_get, wait_for
from localgce.testing import DEFAULT_PROJECT as PROJECT
from localgce.testing import DEFAULT_ZONE as ZONE

HERE = os.path.dirname(os.path.abspath(__file__))
GROUP = "heal"
MOUNT = "/mnt/disks/state"
BOOT_DISK_MARKER = "/var/lib/autoheal/was-here"  # on the boot disk (/var), which is not stateful
NEVER_DURING_BOOT = 600  # initialDelaySec while a VM boots: a slow boot is never healed


class Clients:
    def __init__(self, srv):
        c = lambda cls: srv.client(cls, token=TOKEN)  # noqa: E731
        self.igm = c(compute_v1.InstanceGroupManagersClient)
        self.templates = c(compute_v1.InstanceTemplatesClient)
        self.hc = c(compute_v1.HealthChecksClient)
        self.instances = c(compute_v1.InstancesClient)
        self.disks = c(compute_v1.DisksClient)
        self.zone_ops = c(compute_v1.ZoneOperationsClient)
        self.global_ops = c(compute_v1.GlobalOperationsClient)

    def ok(self, op):
        for _ in range(20):  # each wait answers within ~2 minutes
            if op.zone:
                op = self.zone_ops.wait(project=PROJECT, zone=ZONE, operation=op.name)
            else:
                op = self.global_ops.wait(project=PROJECT, operation=op.name)
            if op.status == compute_v1.Operation.Status.DONE:
                assert not op.error.errors, op.error
                return op
        raise AssertionError(f"operation {op.name} never finished")

    def member(self):
        (m,) = self.igm.list_managed_instances(project=PROJECT, zone=ZONE, instance_group_manager=GROUP)
        return m

    def set_initial_delay(self, seconds):
        """What `gcloud compute instance-groups managed update --initial-delay` does."""
        self.ok(self.igm.patch_unary(project=PROJECT, zone=ZONE, instance_group_manager=GROUP,
                                     instance_group_manager_resource=compute_v1.InstanceGroupManager(
            auto_healing_policies=[compute_v1.InstanceGroupManagerAutoHealingPolicy(
                health_check="global/healthChecks/heal-http", initial_delay_sec=seconds)])))


def user_data(image):
    with open(os.path.join(HERE, "files", "autoheal_web.sh")) as f:
        script = f.read()
    doc = {"write_files": [{"path": "/var/lib/autoheal/boot.sh", "permissions": "0644", "content": script}],
           "runcmd": [["bash", "/var/lib/autoheal/boot.sh", image]]}
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture(scope="module")
def group(e2e):
    api = Clients(e2e.srv)
    image = e2e.vms.registry.image("web", "v1")
    api.ok(api.hc.insert_unary(project=PROJECT, health_check_resource=compute_v1.HealthCheck(
        name="heal-http", type_="HTTP", check_interval_sec=2, timeout_sec=2, healthy_threshold=2,
        unhealthy_threshold=2, http_health_check=compute_v1.HTTPHealthCheck(port=8080, request_path="/"))))
    api.ok(api.templates.insert_unary(project=PROJECT, instance_template_resource=compute_v1.InstanceTemplate(
        name="heal-t1", properties=compute_v1.InstanceProperties(
            machine_type="e2-small",
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key="user-data", value=user_data(image))]),
            disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True,
                                           initialize_params=compute_v1.AttachedDiskInitializeParams(
                                               source_image="projects/cos-cloud/global/images/family/cos-stable")),
                   compute_v1.AttachedDisk(device_name="state", auto_delete=True,
                                           initialize_params=compute_v1.AttachedDiskInitializeParams(
                                               disk_size_gb=1))],
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")]))))
    api.ok(api.igm.insert_unary(project=PROJECT, zone=ZONE, instance_group_manager_resource=(
        compute_v1.InstanceGroupManager(
            name=GROUP, base_instance_name=GROUP, target_size=1, instance_template="global/instanceTemplates/heal-t1",
            auto_healing_policies=[compute_v1.InstanceGroupManagerAutoHealingPolicy(
                health_check="global/healthChecks/heal-http", initial_delay_sec=NEVER_DURING_BOOT)],
            stateful_policy=compute_v1.StatefulPolicy(preserved_state=compute_v1.StatefulPolicyPreservedState(
                disks={"state": compute_v1.StatefulPolicyPreservedStateDiskDevice(auto_delete="NEVER")}))))))
    yield api
    api.ok(api.igm.delete_unary(project=PROJECT, zone=ZONE, instance_group_manager=GROUP))
    e2e.wait_idle()


def health(api):
    return api.member().instance_health[0].detailed_health_state


def journal(e2e, name):
    return lambda: e2e.vm(name).exec(["journalctl", "-u", "autoheal-web", "-u", "cloud-final", "--no-pager",
                                      "-n", "60"]).stdout


def test_killed_container_fails_its_check_and_the_vm_is_recreated_with_its_disk(e2e, group):
    api = group
    first = api.member()
    name = first.name
    assert first.instance_health[0].detailed_health_state in ("UNKNOWN", "HEALTHY")
    wait_for(lambda: health(api) == "HEALTHY", f"{name} HEALTHY", message=journal(e2e, name))
    assert api.member().current_action == "NONE"
    url = e2e.url_of(name, 8080)
    assert http_get(url) == "web v1\n"
    assert http_get(url + "starts.txt") == "v1\n"  # the container's first start on this disk
    token = secrets.token_hex(8)
    vm = e2e.vm(name)
    vm.exec(["sh", "-c", f"echo {token} > {MOUNT}/marker && touch {BOOT_DISK_MARKER} && sync"], check=True)
    old = api.instances.get(project=PROJECT, zone=ZONE, instance=name)
    old_boot = e2e.vm_info(name)["boot_id"]
    state_disk = next(d.source for d in old.disks if d.device_name == "state")

    # Kill the container; its unit (Restart=no) does not bring it back.
    vm.exec(["docker", "kill", "web"], check=True)
    wait_for(lambda: vm.exec(["systemctl", "is-active", "autoheal-web"]).stdout.strip() in ("failed", "inactive"),
             "the unit stays down")
    wait_for(lambda: health(api) == "UNHEALTHY", f"{name} UNHEALTHY")
    assert api.member().current_action == "NONE"  # still within initialDelaySec: not healed yet

    # Past the initial delay, the group recreates the VM under its name.
    api.set_initial_delay(0)
    actions = []

    def recreated():
        m = api.member()
        actions.append(m.current_action)
        return m.id and m.id != old.id

    wait_for(recreated, f"{name} recreated")
    api.set_initial_delay(NEVER_DURING_BOOT)  # the new boot must not be healed while it starts
    assert health(api) == "UNKNOWN"  # a new instance: no verdict before its first probes
    wait_for(lambda: health(api) == "HEALTHY", f"the new {name} HEALTHY", message=journal(e2e, name))
    assert actions[-1] == "RECREATING", actions  # the new VM was still booting when first seen
    m = api.member()
    assert (m.name, m.current_action, m.instance_status) == (name, "NONE", "RUNNING")
    new = api.instances.get(project=PROJECT, zone=ZONE, instance=name)
    assert new.id != old.id and new.creation_timestamp != old.creation_timestamp
    assert e2e.vm_info(name)["boot_id"] != old_boot

    # The stateful disk is the same disk, with its data; the boot disk is new.
    assert next(d.source for d in new.disks if d.device_name == "state") == state_disk
    vm = e2e.vm(name)
    assert vm.exec(["cat", f"{MOUNT}/marker"], check=True).stdout.strip() == token
    assert vm.exec(["test", "-e", BOOT_DISK_MARKER]).returncode != 0
    url = e2e.url_of(name, 8080)
    assert http_get(url) == "web v1\n"
    assert http_get(url + "starts.txt") == "v1\nv1\n"  # a second start, on the same disk
