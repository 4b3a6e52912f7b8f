"""One VM, web-1 (vars/web.yml: the nginx-like example with its image in the local registry,
plus a blank persistent disk). The tests run in order on the same VM, as a user would:
deploy, update the container, reset the VM."""

import pytest

from conftest import wait_for

DISK_DEV = "/dev/disk/by-id/google-data"
MOUNT = "/mnt/disks/data"
FORMAT_LINE = "is blank: formatting it as ext4"  # disk-prepare's line before its only mkfs


@pytest.fixture(scope="module")
def web(e2e, tmp_path_factory):
    run = e2e.deploy(tmp_path_factory.mktemp("deploy"), "web.yml")
    assert run.rc == 0, run
    return {"first": run}


def fs_uuid(vm):
    out = vm.exec(["blkid", "-p", "-s", "UUID", "-o", "value", DISK_DEV], check=True).stdout.strip()
    assert out
    return out


def containers_result(run):
    # The role polls the agent's reports after the container task (wait: false there).
    result = run.task("Read the cos agent's reports")
    assert result, run
    return {c["name"]: c for c in result["agent"]["entries"]}


def test_nginx_like_example_answers_over_http(e2e, web):
    run = web["first"]
    web_c = containers_result(run)["web"]
    assert web_c["state"] == "running"
    assert web_c["digest"] == e2e.digests["web:v1"]
    info = e2e.vm_info("web-1")
    # The user-visible way in: the instance's natIP is host loopback, GET /_localgce/vms the port.
    nic = e2e.instance("web-1")["networkInterfaces"][0]
    assert nic["accessConfigs"][0]["natIP"] == "127.0.0.1"
    assert info["shell"].startswith("nsenter -t ") and info["boot_id"]
    assert e2e.http_body("web-1", 80) == "web v1\n"
    # cloud-init applied the role's user-data: the agent and the container unit run.
    vm = e2e.vm("web-1")
    assert vm.exec(["systemctl", "is-active", "cos-agent.service", "cos-container-web.service"]).stdout.split() == [
        "active", "active"]


def test_blank_disk_formatted_on_first_boot(e2e, web):
    vm = e2e.vm("web-1")
    web["uuid"] = fs_uuid(vm)
    assert vm.exec(["findmnt", "-n", "-o", "FSTYPE", MOUNT]).stdout.strip() == "ext4"
    assert e2e.serial("web-1").count(FORMAT_LINE) == 1
    # The container wrote onto the disk (the image records each start under $DATA).
    assert vm.exec(["cat", MOUNT + "/first"], check=True).stdout == "v1\n"


def test_update_applies_without_reboot_and_returns_new_digest(e2e, web, tmp_path):
    vm = e2e.vm("web-1")
    boot_id = vm.boot_id()
    run = e2e.deploy(tmp_path, "web.yml", e2e_web_version="v2")
    assert run.rc == 0, run
    web_c = containers_result(run)["web"]
    assert web_c["action"] == "update" and web_c["state"] == "running"
    assert web_c["digest"] == e2e.digests["web:v2"] != e2e.digests["web:v1"]
    assert run.task("Ensure the instance")["changed"] is False  # no instance change, only metadata
    assert vm.boot_id() == boot_id  # the VM was not rebooted
    assert e2e.vm_info("web-1")["boot_id"] == boot_id
    assert e2e.http_body("web-1", 80, expect="web v2\n") == "web v2\n"
    # The file v1 wrote on the persistent disk is still there; v2 added its start.
    assert vm.exec(["cat", MOUNT + "/first"], check=True).stdout == "v1\n"
    assert vm.exec(["cat", MOUNT + "/starts"], check=True).stdout.split()[-1] == "v2"


def test_disk_data_survives_reset_and_disk_is_not_formatted_again(e2e, web):
    vm = e2e.vm("web-1")
    boot_id = vm.boot_id()
    starts = vm.exec(["cat", MOUNT + "/starts"], check=True).stdout
    e2e.reset("web-1")
    assert vm.boot_id() != boot_id
    # After the reboot cloud-init writes the units again, the agent restarts the container.
    assert e2e.http_body("web-1", 80, expect="web v2\n") == "web v2\n"
    wait_for(lambda: vm.exec(["cat", MOUNT + "/starts"]).stdout.count("\n") > starts.count("\n"),
             "the container started again on the disk")
    assert vm.exec(["cat", MOUNT + "/first"], check=True).stdout == "v1\n"  # written by v1, before reset
    assert vm.exec(["cat", MOUNT + "/starts"], check=True).stdout.startswith(starts)
    # Same filesystem (mkfs would give a new UUID), and disk-prepare formatted only once in all boots.
    assert fs_uuid(vm) == web["uuid"]
    serial = e2e.serial("web-1")
    assert serial.count("===== gce-cos simulator: boot") >= 2
    assert serial.count(FORMAT_LINE) == 1
    assert "ext4, checked" in serial.rsplit("===== gce-cos simulator: boot", 1)[1]


def test_demo_support_finds_the_container_and_says_how_to_look_inside(e2e, web):
    from localgce.vm.demo_support import wait_for_http

    info = wait_for_http(e2e.url, "web-1")  # only localgce's public endpoints
    assert info["status"] == 200 and info["body"].startswith("web v")
    assert info["url"] == e2e.url_of("web-1", 80)
    pid = e2e.vm("web-1").pid1
    assert info["shell"] == "nsenter -t %d -a /bin/bash" % pid
    assert any(c.startswith("nsenter -t %d -a docker ps" % pid) for c in info["commands"])
    assert any("/serialPort" in c for c in info["commands"])
