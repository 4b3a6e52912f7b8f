"""One VM, prov-1 (vars/provisioning.yml): your own cloud-config and a startup-script beside the
role's, under COS M129's mount rules (/mnt/disks, /run and /dev/hugepages noexec, on top of
/var, /home and /tmp), then a reset."""

import pytest

from conftest import wait_for

NOEXEC = ("/var", "/home", "/tmp", "/mnt/disks", "/run")


@pytest.fixture(scope="module")
def prov(e2e, tmp_path_factory):
    run = e2e.deploy(tmp_path_factory.mktemp("deploy"), "provisioning.yml")
    assert run.rc == 0, run
    return e2e.vm("prov-1")


def startup_script_log(vm):
    status = vm.exec(["systemctl", "status", "--no-pager", "google-startup-scripts.service", "cloud-final.service"])
    jobs = vm.exec(["systemctl", "list-jobs", "--no-pager"])
    return status.stdout + status.stderr + jobs.stdout


def lines(vm, path):
    return vm.exec(["cat", path], check=True).stdout.splitlines()


def test_m129_mount_rules_hold_and_everything_the_role_installs_runs_under_them(e2e, prov):
    for path in NOEXEC:
        options = prov.exec(["findmnt", "-n", "-o", "OPTIONS", "--target", path], check=True).stdout.strip()
        assert "noexec" in options.split(","), (path, options)
    # The agent, its container unit and the user's own steps ran: nothing they need is exec'd
    # from a noexec mount (scripts there are read by bash).
    assert prov.exec(["systemctl", "is-active", "cos-agent.service", "cos-container-web.service"]).stdout.split() == [
        "active", "active"]
    assert e2e.http_body("prov-1", 80) is not None
    units = prov.exec(["systemctl", "cat", "cos-agent.service", "cos-container-web.service"], check=True).stdout
    for line in units.splitlines():
        if line.startswith(("ExecStart=", "ExecStartPre=", "ExecStop=", "ExecStopPost=")):
            command = line.split("=", 1)[1].lstrip("-+!@")
            assert not command.startswith(tuple(p + "/" for p in NOEXEC)), line


def test_your_cloud_config_and_startup_script_ran_with_the_roles(e2e, prov):
    assert prov.exec(["cat", "/etc/motd-app"], check=True).stdout == "provisioned by gce.cos\n"
    assert prov.exec(["test", "-d", "/var/data"]).returncode == 0
    assert lines(prov, "/var/lib/provision-runs") == ["run"]
    # google-startup-scripts runs after cloud-init's final stage, so it may still be running.
    wait_for(lambda: prov.exec(["test", "-s", "/var/lib/startup-script-runs"]).returncode == 0,
             "startup-script ran", tries=240, message=lambda: startup_script_log(prov))
    assert lines(prov, "/var/lib/startup-script-runs") == ["boot " + prov.boot_id()]
    md = {i["key"]: i["value"] for i in e2e.instance("prov-1")["metadata"]["items"]}
    assert md["google-monitoring-enabled"] == "true" and md["startup-script"].startswith("#!/bin/bash")


def test_after_a_reset_cloud_init_runs_again_and_once_per_instance_steps_too(e2e, prov):
    """COS keeps cloud-init's state (/var/lib/cloud) on a tmpfs, so each boot looks like the
    instance's first to cloud-init: the role's files come back in the new /etc, and a
    ``cloud-init-per instance`` step runs again. The seed's ``mkdir /var/data`` then fails
    (the folder persisted on /var), harmlessly; a step that must run once needs its own marker
    on /var (docs/docsite/rst/guide_deploy.rst)."""
    first_boot = prov.boot_id()
    e2e.reset("prov-1")
    vm = e2e.vm("prov-1")
    assert vm.boot_id() != first_boot
    assert vm.exec(["cat", "/etc/motd-app"], check=True).stdout == "provisioned by gce.cos\n"
    assert lines(vm, "/var/lib/provision-runs") == ["run", "run"]
    wait_for(lambda: len(lines(vm, "/var/lib/startup-script-runs")) == 2, "startup-script ran again",
             tries=240, message=lambda: startup_script_log(vm))
    assert lines(vm, "/var/lib/startup-script-runs") == ["boot " + first_boot, "boot " + vm.boot_id()]
    assert e2e.http_body("prov-1", 80) is not None
