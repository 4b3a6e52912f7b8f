"""konlet VMs made the way `gcloud compute instances create-with-container` made them, moved by
playbooks/migrate.yml over the gce.cos.cos_vms inventory, then stopped and started through the API:

- mig-db: a "database" (the test image writes its start records on $DATA) on a persistent disk,
  declared as `--container-mount-disk=name=mig-db-data,mount-path=/data` writes it. konlet had
  formatted the blank disk and mounted it under /mnt/disks/gce-containers-mounts; the migrated
  user-data must prepare (check, never format data) and mount it where the unit requires it.
- mig-web: a web server on port 80. konlet had opened the host firewall; the migrated user-data
  must open it again at every boot (real iptables and ip6tables rules in the VM), since each boot
  starts from COS's default-DROP rules: after a reset through the API it still answers, over IPv4
  and IPv6.

The simulator has no konlet: each VM's container is started, and its firewall opened, the way
konlet did at boot.
"""

import json
import re

import pytest
from google.cloud import compute_v1

from conftest import DEFAULT_PROJECT, DEFAULT_ZONE, http_get, konlet_open_firewall, wait_for

DB, WEB, DISK = "mig-db", "mig-web", "mig-db-data"
DEVICE = "/dev/disk/by-id/google-" + DISK
KONLET_MOUNT = "/mnt/disks/gce-containers-mounts/gce-persistent-disks/" + DISK
MOUNT = "/mnt/disks/" + DISK
FORMAT_LINE = "is blank: formatting it as ext4"  # disk-prepare's line before its only mkfs
FIREWALL = ("host firewall: everything konlet opened: ACCEPT for tcp, udp and icmp on INPUT and FORWARD, IPv4 "
            "and IPv6")
# konlet's rules, as iptables -S prints them (ip6tables: ipv6-icmp).
RULES = ["-A %s -p %s -j ACCEPT" % (chain, proto) for chain in ("INPUT", "FORWARD") for proto in ("tcp", "udp")]

DISCLAIMER = (
    "# DISCLAIMER:\n"
    "# This container declaration format is not a public API and may change without\n"
    "# notice. Please use gcloud command-line tool or Google Cloud Console to run\n"
    "# Containers on Google Compute Engine.\n\n")


def declaration(name, image, env=None, disk=None):
    """What gcloud create-with-container writes (FACTS.md 6: its comment block, privileged, stdin, tty)."""
    text = DISCLAIMER + "spec:\n  containers:\n"
    if env:
        text += "  - env:\n" + "".join("    - name: %s\n      value: %s\n" % kv for kv in env.items())
        text += "    image: %s\n" % image
    else:
        text += "  - image: %s\n" % image
    text += "    name: %s\n    securityContext:\n      privileged: false\n    stdin: false\n    tty: false\n" % name
    if disk:
        text += "    volumeMounts:\n    - mountPath: /data\n      name: pd-0\n      readOnly: false\n"
    text += "  restartPolicy: Always\n"
    if disk:
        text += "  volumes:\n  - gcePersistentDisk:\n      fsType: ext4\n      pdName: %s\n    name: pd-0\n" % disk
    return text


def wait_op(ops, op):
    for _ in range(60):  # each wait long-polls; bounded by count
        op = ops.wait(project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, operation=op.name)
        if op.status == compute_v1.Operation.Status.DONE:
            break
    assert op.status == compute_v1.Operation.Status.DONE and not op.error.errors, op


def konlet_vm(e2e, name, decl, disk=None):
    clients = {c: e2e.srv.client(c, token="vm-e2e-token") for c in (
        compute_v1.InstancesClient, compute_v1.ZoneOperationsClient, compute_v1.DisksClient)}
    ops = clients[compute_v1.ZoneOperationsClient]
    disks = [compute_v1.AttachedDisk(
        boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
            source_image="projects/cos-cloud/global/images/family/cos-stable"))]
    if disk:
        wait_op(ops, clients[compute_v1.DisksClient].insert_unary(
            project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, disk_resource=compute_v1.Disk(name=disk, size_gb=10)))
        # gcloud attaches the disk under its own name as the device name, which is konlet's pdName.
        disks.append(compute_v1.AttachedDisk(source="zones/%s/disks/%s" % (DEFAULT_ZONE, disk), device_name=disk,
                                             mode="READ_WRITE", auto_delete=True))
    body = compute_v1.Instance(
        name=name,
        machine_type="zones/%s/machineTypes/e2-small" % DEFAULT_ZONE,
        disks=disks,
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
        metadata=compute_v1.Metadata(items=[
            compute_v1.Items(key="gce-container-declaration", value=decl),
            compute_v1.Items(key="google-logging-enabled", value="true"),
        ]),
        labels={"container-vm": "cos-stable-117", "e2e": "migrate"},
    )
    wait_op(ops, clients[compute_v1.InstancesClient].insert_unary(
        project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, instance_resource=body))


def power(e2e, name, verb, status):
    e2e.api("POST", "zones/%s/instances/%s/%s" % (DEFAULT_ZONE, name, verb))
    e2e.wait_idle()
    wait_for(lambda: e2e.instance(name)["status"] == status, "instance %s %s" % (name, status))


def inside(e2e, name):
    """What a person would look at in the VM when something fails."""
    return e2e.vm(name).exec(["bash", "-c", "docker ps -a; systemctl --no-pager list-units 'mnt-disks*' "
                                            "'cos-disk*' 'cos-container*'; journalctl -b --no-pager -u "
                                            "'cos-disk-prepare*' -u 'mnt-disks*' | tail -20"]).stdout


def rules(vm, tool):
    return vm.exec([tool, "-w", "-S"], check=True).stdout.splitlines()


@pytest.fixture(scope="module")
def estate(e2e, tmp_path_factory):
    image = e2e.vms.registry.image("web", "v1")
    konlet_vm(e2e, DB, declaration("db", image, env={"DATA": "/data"}, disk=DISK), disk=DISK)
    konlet_vm(e2e, WEB, declaration("web", image))
    e2e.wait_idle()
    run = ["docker", "run", "-d", "--network", "host", "--restart", "always", "--log-driver", "json-file",
           "--log-opt", "max-size=500m", "--log-opt", "max-file=3"]
    # konlet at boot: mkfs.ext4 of the blank disk, mount under its own root, then the container.
    db = e2e.vm(DB)
    konlet_open_firewall(db)
    konlet_open_firewall(e2e.vm(WEB))
    db.exec(["bash", "-c", "mkfs.ext4 -q -F %s && mkdir -p %s && mount %s %s" % (DEVICE, KONLET_MOUNT, DEVICE,
                                                                                 KONLET_MOUNT)], check=True)
    db.exec([*run, "--name", "klt-db-xkqz", "--env", "DATA=/data", "--volume", KONLET_MOUNT + ":/data", image],
            check=True, timeout=300)
    e2e.vm(WEB).exec([*run, "--name", "klt-web-bwpa", image], check=True, timeout=300)
    assert e2e.http_body(WEB, 80) == "web v1\n"
    wait_for(lambda: db.exec(["cat", KONLET_MOUNT + "/first"]).stdout == "v1\n", "konlet's db wrote its data")
    db.exec(["bash", "-c", "echo written-under-konlet > %s/marker && sync" % KONLET_MOUNT], check=True)

    src = tmp_path_factory.mktemp("inventory") / "e2e.cos_vms.yml"
    src.write_text("plugin: gce.cos.cos_vms\nfilters:\n  - labels.e2e = migrate\n")
    tmp = tmp_path_factory.mktemp("migrate")
    migrated = e2e.playbook(tmp, "playbooks/migrate.yml", args=["-i", str(src)], cos_migrate_wait_timeout=300)
    return {"run": migrated, "tmp": tmp}


def messages(run):
    return [json.loads('"%s"' % m) for m in re.findall(r'"msg": "(.*)"', run.proc.stdout)]


def test_migrate_playbook_moves_both_and_says_what_it_opened_and_mounted(e2e, estate):
    run = estate["run"]
    assert run.rc == 0, (run, inside(e2e, DB), inside(e2e, WEB))
    lines = messages(run)
    (db_line,) = [m for m in lines if m.startswith(DB + ": migrated: ")]
    assert db_line.startswith(DB + ": migrated: container db (%s) at revision " % e2e.vms.registry.image("web", "v1"))
    assert ", running, the VM was restarted once; " + FIREWALL + "; disks mounted: %s at %s" % (DISK, MOUNT) in db_line
    (web_line,) = [m for m in lines if m.startswith(WEB + ": migrated: ")]
    assert web_line.endswith(", running, the VM was restarted once; " + FIREWALL + "; disks mounted: none")
    assert "2 konlet VM(s), 2 migrated" in lines


def test_the_database_runs_on_its_disk_with_the_data_konlet_wrote(e2e, estate):
    vm = e2e.vm(DB)
    assert vm.exec(["findmnt", "-n", "-o", "SOURCE,FSTYPE", MOUNT]).stdout.split()[1:] == ["ext4"], inside(e2e, DB)
    assert vm.exec(["cat", MOUNT + "/marker"], check=True).stdout == "written-under-konlet\n"
    assert vm.exec(["cat", MOUNT + "/first"], check=True).stdout == "v1\n"
    wait_for(lambda: vm.exec(["cat", MOUNT + "/starts"]).stdout.count("v1\n") >= 2,
             "the migrated container started on the disk", message=lambda: inside(e2e, DB))
    assert e2e.http_body(DB, 80) == "web v1\n"
    serial = e2e.serial(DB)
    assert FORMAT_LINE not in serial  # konlet's filesystem was checked, never formatted again
    assert "ext4, checked" in serial


def test_the_web_server_answers_with_konlets_firewall_opened_by_user_data(e2e, estate):
    vm = e2e.vm(WEB)
    assert e2e.http_body(WEB, 80) == "web v1\n"
    assert set([*RULES, "-A INPUT -p icmp -j ACCEPT", "-A FORWARD -p icmp -j ACCEPT"]) <= set(rules(vm, "iptables"))
    assert set([*RULES, "-A INPUT -p ipv6-icmp -j ACCEPT"]) <= set(rules(vm, "ip6tables"))


@pytest.mark.parametrize("name", [DB, WEB])
def test_both_come_back_after_stop_and_start(e2e, estate, name):
    vm = e2e.vm(name)
    boot_id = vm.boot_id()
    starts = vm.exec(["cat", MOUNT + "/starts"]).stdout if name == DB else ""
    power(e2e, name, "stop", "TERMINATED")
    power(e2e, name, "start", "RUNNING")
    vm = e2e.vm(name)
    wait_for(lambda: vm.boot_id() not in (None, boot_id), "a new boot of %s" % name)
    assert e2e.http_body(name, 80, expect="web v1\n") == "web v1\n", inside(e2e, name)
    # A new boot has a new network namespace: the rules are there because the user-data made them again.
    assert set(RULES) <= set(rules(vm, "iptables")) and set(RULES) <= set(rules(vm, "ip6tables"))
    if name == DB:
        assert vm.exec(["findmnt", "-n", "-o", "FSTYPE", MOUNT]).stdout.strip() == "ext4"
        assert vm.exec(["cat", MOUNT + "/marker"], check=True).stdout == "written-under-konlet\n"
        wait_for(lambda: vm.exec(["cat", MOUNT + "/starts"]).stdout.count("\n") > starts.count("\n"),
                 "the database started again on its disk", message=lambda: inside(e2e, DB))
        assert vm.exec(["cat", MOUNT + "/starts"], check=True).stdout.startswith(starts)
        assert FORMAT_LINE not in e2e.serial(DB)
    # Under COS's default-DROP INPUT policy, for IPv4 and IPv6, the migrated rules let the traffic in.
    assert "-P INPUT DROP" in rules(vm, "iptables") and "-P INPUT DROP" in rules(vm, "ip6tables")
    assert http_get(e2e.url_of(name, 80, ipv6=True)) == "web v1\n"


def test_the_web_server_answers_after_a_reset_through_the_api(e2e, estate):
    """A reboot drops every rule made at run time (konlet's among them): the migrated user-data opens again."""
    vm = e2e.vm(WEB)
    boot_id = vm.boot_id()
    e2e.reset(WEB)
    vm = e2e.vm(WEB)
    wait_for(lambda: vm.boot_id() not in (None, boot_id), "a new boot of %s" % WEB)
    for tool in ("iptables", "ip6tables"):
        got = rules(vm, tool)
        assert "-P INPUT DROP" in got, got
    assert e2e.http_body(WEB, 80, expect="web v1\n") == "web v1\n", inside(e2e, WEB)
    assert http_get(e2e.url_of(WEB, 80, ipv6=True)) == "web v1\n"
    assert set(RULES) <= set(rules(vm, "iptables")) and set(RULES) <= set(rules(vm, "ip6tables"))
