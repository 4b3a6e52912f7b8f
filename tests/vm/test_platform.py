"""COS platform services in one simulated VM: gcr-online.target as on COS (reached only once
gcr.io resolves and answers, with a per-VM switch making gcr.io unreachable), dockerd with COS's
own flags (a daemon.json repeating one stops it), COS's credential helpers (a desktop store picked
by docker login fails on a headless VM), and the cos_deploy role's docker-daemon merge, restoring
the previous settings when docker does not come back."""

import json
import os

import pytest

from localgce.vm.machine import VirtualMachine

NAME, INSTANCE_ID = "vm-platform-1", "5151515151"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKER_DAEMON = os.path.join(ROOT, "roles", "cos_deploy", "files", "docker-daemon")


@pytest.fixture(scope="module")
def vm(rootfs, upstream, registry, workdir):
    upstream.instance(NAME, INSTANCE_ID, "#cloud-config\n{}\n")
    machine = VirtualMachine(os.path.join(workdir, "instances", NAME), rootfs=rootfs)
    try:
        machine.boot(INSTANCE_ID, NAME, metadata_url=upstream.guest_url(NAME),
                     secret_url=upstream.url, host_ports=[registry.port], gcr_reachable=False)
        yield machine
    finally:
        machine.destroy()


def sh(vm, script, **kw):
    return vm.exec(["/bin/bash", "-c", script], **kw)


def wait_in_vm(vm, condition, what, seconds=120):
    """Poll a shell condition inside the VM (bounded by a count of tries)."""
    proc = sh(vm, "for i in $(seq %d); do if %s; then exit 0; fi; sleep 0.5; done; exit 1" % (seconds * 2, condition),
              timeout=seconds + 60)
    assert proc.returncode == 0, "never happened: %s" % what


def test_gcr_unreachable_never_reaches_gcr_online_target(vm):
    assert sh(vm, "getent hosts gcr.io").returncode != 0
    assert sh(vm, "systemctl start --no-block gcr-online.target").returncode == 0
    # gcr-wait-online keeps waiting and says why; the target stays unreached.
    wait_in_vm(vm, "journalctl -u gcr-wait-online.service -o cat | grep -q 'gcr.io does not resolve or answer yet'",
               "gcr-wait-online says gcr.io does not answer")
    assert sh(vm, "systemctl is-active gcr-wait-online.service").stdout.strip() == "activating"
    assert sh(vm, "systemctl is-active gcr-online.target").stdout.strip() != "active"


def test_dockerd_runs_with_cos_flags(vm):
    pid = sh(vm, "systemctl show -p MainPID --value docker.service", check=True).stdout.strip()
    argv = sh(vm, "cat /proc/%s/cmdline" % pid, check=True).stdout.split("\0")
    assert argv[:3] == ["/usr/sbin/dockerd", "--registry-mirror=https://mirror.gcr.io", "--host=fd://"], argv


def test_docker_login_without_auths_picks_the_desktop_store_and_fails(vm, registry):
    # docker-credential-helpers on the PATH, no auths/credHelpers/credsStore: the docker CLI picks
    # secretservice, which cannot work on a headless VM.
    def login(config):
        return "printf %%s %s | DOCKER_CONFIG=/var/lib/dc-test-%s docker login -u %s --password-stdin %s" % (
            registry.password, config, registry.user, registry.address)

    proc = sh(vm, "rm -rf /var/lib/dc-test-empty && " + login("empty"))
    assert proc.returncode != 0
    assert "Cannot autolaunch D-Bus" in proc.stdout + proc.stderr
    # An auths entry for the server keeps the login in config.json (what registry-login writes).
    seed = json.dumps({"auths": {registry.address: {}}})
    proc = sh(vm, "mkdir -p /var/lib/dc-test-seeded && echo '%s' >/var/lib/dc-test-seeded/config.json && %s" % (
        seed, login("seeded")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = json.loads(sh(vm, "cat /var/lib/dc-test-seeded/config.json", check=True).stdout)
    assert config["auths"][registry.address]["auth"] and "credsStore" not in config


def _docker_daemon(vm, wanted):
    with open(DOCKER_DAEMON) as f:
        vm.exec(["/bin/sh", "-c", "mkdir -p /var/lib/cos-agent/bin && cat >/var/lib/cos-agent/bin/docker-daemon"],
                input=f.read(), check=True)
    vm.exec(["/bin/sh", "-c", "cat >/etc/docker/daemon.cos-deploy.json"], input=json.dumps(wanted), check=True)
    return vm.exec(["/bin/bash", "/var/lib/cos-agent/bin/docker-daemon", "/etc/docker/daemon.cos-deploy.json"],
                   timeout=400)


def daemon_json(vm):
    return json.loads(sh(vm, "cat /etc/docker/daemon.json", check=True).stdout)


def test_daemon_json_repeating_a_flag_stops_dockerd(vm):
    before = sh(vm, "cat /etc/docker/daemon.json", check=True).stdout
    try:
        sh(vm, """echo '{"registry-mirrors": ["https://mirror.gcr.io"]}' >/etc/docker/daemon.json""", check=True)
        assert sh(vm, "systemctl restart docker.service", timeout=300).returncode != 0
        journal = sh(vm, "journalctl -u docker.service -o cat -n 30").stdout
        assert "specified both as a flag and in the configuration file" in journal, journal
    finally:
        vm.exec(["/bin/sh", "-c", "cat >/etc/docker/daemon.json"], input=before, check=True)
        sh(vm, "systemctl reset-failed docker.service; systemctl restart docker.service", timeout=300)
    assert sh(vm, "docker info >/dev/null").returncode == 0


def test_role_settings_merged_leaving_out_what_a_flag_sets(vm):
    before = daemon_json(vm)
    proc = _docker_daemon(vm, {"live-restore": True, "registry-mirrors": ["https://mirror.gcr.io"],
                               "log-opts": {"max-size": "100m"}})
    assert proc.returncode == 0, proc.stderr
    assert "registry-mirrors: left out, dockerd already sets it with a flag" in proc.stderr
    assert daemon_json(vm) == dict(before, **{"live-restore": True, "log-opts": {"max-size": "100m"}})
    assert sh(vm, "docker info >/dev/null").returncode == 0
    assert sh(vm, "test -e /run/cos-agent/docker-daemon.error").returncode != 0


def test_docker_that_does_not_come_back_gets_the_previous_settings_and_a_report(vm):
    before = daemon_json(vm)
    proc = _docker_daemon(vm, {"storage-driver": "no-such-driver"})
    assert proc.returncode == 1
    error = sh(vm, "cat /run/cos-agent/docker-daemon.error", check=True).stdout
    assert "docker did not start with the merged /etc/docker/daemon.json" in error, error
    assert "the previous settings are back and docker runs with them" in error, error
    assert daemon_json(vm) == before
    assert sh(vm, "systemctl is-active docker.service").stdout.strip() == "active"
    assert sh(vm, "docker info >/dev/null").returncode == 0


def test_a_docker_service_that_puts_its_own_daemon_json_back_is_reported(vm):
    # The docker.service of some COS releases copies /var/lib/docker/daemon.json over
    # /etc/docker/daemon.json at every start (ExecStartPre): the merged settings would not hold.
    dropin = "/etc/systemd/system/docker.service.d/99-test-copy.conf"
    copy = "[Service]\nExecStartPre=/bin/sh -c 'cp -f /var/lib/docker/daemon.json /etc/docker/daemon.json'\n"
    vm.exec(["/bin/sh", "-c", "cat >" + dropin], input=copy, check=True)
    vm.exec(["/bin/sh", "-c", "cat >/var/lib/docker/daemon.json"], input='{"shutdown-timeout": 5}\n', check=True)
    sh(vm, "systemctl daemon-reload", check=True)
    try:
        proc = _docker_daemon(vm, {"debug": True})
        assert proc.returncode == 1
        error = sh(vm, "cat /run/cos-agent/docker-daemon.error", check=True).stdout
        assert "docker.service replaced the merged /etc/docker/daemon.json when docker started" in error, error
    finally:
        sh(vm, "rm -f %s /var/lib/docker/daemon.json && systemctl daemon-reload && systemctl restart docker.service"
           % dropin, timeout=300)
    assert sh(vm, "docker info >/dev/null").returncode == 0


def test_gcr_reachable_again_after_a_reset(vm):
    # The switch is read at every boot: gcr.io resolves to the simulator's stand-in, which answers.
    vm.boot_args["gcr_reachable"] = True
    vm.reset()
    assert sh(vm, "getent hosts gcr.io").returncode == 0
    assert sh(vm, "systemctl start gcr-online.target", timeout=120).returncode == 0
    assert sh(vm, "systemctl is-active gcr-online.target").stdout.strip() == "active"
