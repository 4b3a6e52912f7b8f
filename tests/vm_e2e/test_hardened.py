"""One VM, sec-1 (vars/hardened.yml): what a container may do and what an operator can see.

- Rights: the container gets the VM's service-account token from the metadata server, and that
  token carries exactly the scopes set on the instance (localgce's /tokeninfo tells them, as
  oauth2.googleapis.com/tokeninfo does).
- Security: read_only gives the container a read-only root; apparmor_profile reaches docker.
- Toolbox: /etc/default/toolbox from cos_deploy_toolbox, at every boot, and the simulator's
  toolbox runs the configured image with the host root at /media/root and the binds.
"""

import json
import urllib.parse
import urllib.request

import pytest

from conftest import wait_for

SCOPES = sorted("https://www.googleapis.com/auth/" + s for s in ("logging.write", "devstorage.read_only",
                                                                 "monitoring.write"))
MD = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/"


@pytest.fixture(scope="module")
def sec(e2e, tmp_path_factory):
    from localgce.vm import registry

    registry.push_web_image(e2e.vms.registry, "toolbox", "v1")
    run = e2e.deploy(tmp_path_factory.mktemp("deploy"), "hardened.yml")
    assert run.rc == 0, run
    vm = e2e.vm("sec-1")
    wait_for(lambda: vm.exec(["systemctl", "is-active", "cos-container-web.service"]).stdout.strip() == "active",
             "web running", tries=240)
    return vm


def in_container(vm, *argv):
    return vm.exec(["docker", "exec", "web", *argv])


def metadata(vm, leaf):
    proc = in_container(vm, "wget", "-q", "-O", "-", "--header", "Metadata-Flavor: Google", MD + leaf)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_container_gets_a_token_with_the_instances_scopes(e2e, sec):
    inst = e2e.instance("sec-1")
    (account,) = inst["serviceAccounts"]
    assert sorted(account["scopes"]) == SCOPES
    # From inside the container (host network, as every container of the role).
    assert sorted(metadata(sec, "scopes").split()) == SCOPES
    assert metadata(sec, "email").strip() == account["email"]
    token = json.loads(metadata(sec, "token"))
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    # What Google's tokeninfo answers for that token: the instance's scopes, nothing more.
    url = e2e.url + "/tokeninfo?" + urllib.parse.urlencode({"access_token": token["access_token"]})
    with urllib.request.urlopen(url, timeout=30) as resp:
        info = json.loads(resp.read())
    assert sorted(info["scope"].split()) == SCOPES and info["email"] == account["email"]


def test_read_only_root_and_apparmor_profile_reach_docker(e2e, sec):
    unit = sec.exec(["systemctl", "cat", "cos-container-web.service"], check=True).stdout
    assert "--read-only" in unit and "--security-opt apparmor=docker-default" in unit
    host = json.loads(sec.exec(["docker", "inspect", "--format", "{{json .HostConfig}}", "web"], check=True).stdout)
    assert host["ReadonlyRootfs"] is True and "apparmor=docker-default" in host["SecurityOpt"]
    profile = sec.exec(["docker", "inspect", "--format", "{{.AppArmorProfile}}", "web"], check=True).stdout.strip()
    # The simulator's kernel has no AppArmor, so docker keeps the profile name but cannot load it
    # (docs/docsite/rst/guide_security.rst); on COS the same flag confines the container.
    assert profile in ("docker-default", ""), profile
    write = in_container(sec, "sh", "-c", "echo x > /probe")
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write
    # The container still serves: it writes nothing to its root.
    assert e2e.http_body("sec-1", 80) == "web v1\n"


def test_shielded_vm_and_update_strategy_are_set_on_the_instance(e2e, sec):
    inst = e2e.instance("sec-1")
    assert inst["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableVtpm": True,
                                              "enableIntegrityMonitoring": True}
    md = {i["key"]: i["value"] for i in inst["metadata"]["items"]}
    assert md["cos-update-strategy"] == "update_disabled"


def test_toolbox_runs_the_configured_image_with_the_host_root_and_binds(e2e, sec):
    config = sec.exec(["cat", "/etc/default/toolbox"], check=True).stdout
    assert "TOOLBOX_DOCKER_IMAGE=%s/toolbox\n" % e2e.vms.registry.address in config
    assert "TOOLBOX_DOCKER_TAG=v1\n" in config and "--bind=/var/lib/sec-data:/data" in config
    sec.exec(["sh", "-c", "mkdir -p /var/lib/sec-data && echo from-the-host > /var/lib/sec-data/marker"], check=True)
    first = sec.exec(["toolbox", "ls", "/media/root/etc"])
    assert first.returncode == 0, first.stdout + first.stderr
    assert {"default", "systemd", "docker"} <= set(first.stdout.split())
    assert "pulling" in first.stderr
    # The image's own files, the host's disks directory and the configured bind.
    assert sec.exec(["toolbox", "cat", "/bin/serve"], check=True).stdout.startswith("#!/bin/sh")
    assert sec.exec(["toolbox", "cat", "/data/marker"], check=True).stdout == "from-the-host\n"
    assert sec.exec(["toolbox", "ls", "-d", "/mnt/disks", "/media/root/var/lib/cos-agent"]).returncode == 0
    # State under /var/lib/toolbox (persistent and exec on COS): kept, so the next start pulls nothing.
    state = sec.exec(["ls", "/var/lib/toolbox"], check=True).stdout.split()
    assert len(state) == 1 and state[0].endswith("toolbox-v1"), state
    again = sec.exec(["toolbox", "sh", "-c", ":"])
    assert again.returncode == 0 and "pulling" not in again.stderr, again.stderr
    # Writes through /media/root reach the host (the root bind is read-write, as on COS).
    sec.exec(["toolbox", "sh", "-c", "echo from-the-toolbox > /media/root/var/lib/sec-data/back"], check=True)
    assert sec.exec(["cat", "/var/lib/sec-data/back"], check=True).stdout == "from-the-toolbox\n"


def test_toolbox_settings_come_back_after_a_reset(e2e, sec):
    """/etc is a tmpfs on COS: the role's cloud-init writes /etc/default/toolbox at every boot."""
    before = sec.exec(["cat", "/etc/default/toolbox"], check=True).stdout
    e2e.reset("sec-1")
    vm = e2e.vm("sec-1")
    wait_for(lambda: vm.exec(["test", "-f", "/etc/default/toolbox"]).returncode == 0, "toolbox settings",
             tries=240)
    assert vm.exec(["cat", "/etc/default/toolbox"], check=True).stdout == before
    assert vm.exec(["toolbox", "cat", "/data/marker"], check=True).stdout == "from-the-host\n"
