"""playbooks/deploy.yml and playbooks/teardown.yml as an operations team runs them: over a gce.cos.cos_vms
inventory of VMs made by others (the agent's, gcloud's, bare ones), against localgce over HTTP. The cos agent's
reports are published through localgce's control API, as the agent on a booted VM would publish them."""

import json
import os
import re
import subprocess
import sys
import textwrap

from estate import PROJECT, ROOT, Estate, ansible_env

from ansible_collections.gce.cos.plugins.module_utils import container_unit

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
ZONE = "us-central1-a"
WEB = {"name": "web", "image": "nginx:1.25", "ports": [80]}
RETRY_RE = re.compile(r"FAILED - RETRYING: \[([^\]]+)\]: Read the cos agent's reports .* \((\d+) retries left\)")


def run_playbook(env, name, inventory, *extra):
    cmd = [PLAYBOOK, "playbooks/%s.yml" % name, "-i", str(inventory), *extra]
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)


def inventory(tmp_path, group_vars=None, host_vars=None, hostnames=None):
    """A cos_vms inventory file in its own directory, with group_vars/all.yml and host_vars/HOST.yml beside it."""
    src = tmp_path / "inv" / "estate.cos_vms.yml"
    src.parent.mkdir()
    text = "plugin: gce.cos.cos_vms\n"
    if hostnames:
        text += "hostnames: %s\n" % json.dumps(hostnames)
    src.write_text(text)
    (src.parent / "group_vars").mkdir()
    all_vars = {"cos_deploy_instance": {"zone": "{{ gce_zone }}"}}
    all_vars.update(group_vars or {})
    (src.parent / "group_vars" / "all.yml").write_text(json.dumps(all_vars))
    (src.parent / "host_vars").mkdir()
    for host, data in (host_vars or {}).items():
        (src.parent / "host_vars" / ("%s.yml" % host)).write_text(json.dumps(data))
    return src


def instance(srv, name, zone=ZONE):
    return srv.get_resource("projects/%s/zones/%s/instances/%s" % (PROJECT, zone, name))


def metadata(inst):
    return {i["key"]: i["value"] for i in inst["metadata"].get("items", [])}


def mutations(srv):
    return [r for r in srv.requests(mutating_only=True) if r["path"].startswith("/compute/")]


def report(srv, name, spec, state="running", error="", zone=ZONE):
    """Publish the agent's report of ``spec`` at its revision, as the agent on the VM would."""
    unit = container_unit.build(spec)
    Estate(srv).report(name, zone, {spec["name"]: {
        "revision": unit["revision"], "state": state, "image": spec["image"], "digest": "sha256:" + "b" * 64,
        "error": error, "restarts": 0, "time": "2026-12-01T00:00:00Z"}})
    return unit["revision"]


# -- item 3: a host with no container list is left alone -----------------------------------------
def test_a_host_without_a_container_list_keeps_its_containers(localgce, tmp_path):
    estate = Estate(localgce)
    estate.agent_vm("web-1", ZONE)
    estate.agent_vm("web-2", ZONE)
    src = inventory(tmp_path, host_vars={"web-1": {"cos_deploy_containers": [WEB]}})
    env = ansible_env(localgce, tmp_path)
    localgce.clear_requests()

    check = run_playbook(env, "deploy", src, "--check", "--diff")
    assert check.returncode == 0, check.stdout[-4000:]
    assert ("web-2: containers left as they are, because cos_deploy_containers is not set for this host; set it "
            "to the containers to run, or to [] to remove them all") in check.stdout
    # deploy.yml's own summary tells the truth in check mode: nothing "written to metadata".
    assert "web: unchanged, revision" in check.stdout
    assert "written to metadata" not in check.stdout and "not waited for" not in check.stdout
    assert mutations(localgce) == []

    run = run_playbook(env, "deploy", src)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "cos-container-web" in metadata(instance(localgce, "web-2"))
    assert "cos-container-web" in metadata(instance(localgce, "web-1"))
    assert "web-2: containers left as they are" in run.stdout
    # The firewall rule of web-2's ports is left alone too; web-1 gets its own.
    assert localgce.get_resource("projects/%s/global/firewalls/web-2-ports" % PROJECT) is None
    assert localgce.get_resource("projects/%s/global/firewalls/web-1-ports" % PROJECT) is not None

    # An explicit empty list is asked for by name: that host's containers go.
    (src.parent / "host_vars" / "web-2.yml").write_text(json.dumps({"cos_deploy_containers": []}))
    run = run_playbook(env, "deploy", src, "--limit", "web-2", "-e", "cos_deploy_wait=false")
    assert run.returncode == 0, run.stdout[-4000:]
    assert "cos-container-web" not in metadata(instance(localgce, "web-2"))
    assert "web: removal written in metadata (not waited for)" in run.stdout


# -- hostnames: [private_ip]: the VM is still named by gce_name --------------------------------------
def test_deploy_and_teardown_name_the_vm_by_gce_name_when_the_inventory_names_hosts_by_ip(localgce, tmp_path):
    estate = Estate(localgce)
    estate.agent_vm("web-1", ZONE)
    ip = instance(localgce, "web-1")["networkInterfaces"][0]["networkIP"]
    src = inventory(tmp_path, group_vars={"cos_deploy_containers": [WEB]}, hostnames=["private_ip"])
    env = ansible_env(localgce, tmp_path)
    run = run_playbook(env, "deploy", src)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "ok: [%s]" % ip in run.stdout
    assert localgce.get_resource("projects/%s/global/firewalls/web-1-ports" % PROJECT) is not None

    run = run_playbook(env, "teardown", src, "--limit", ip)
    assert run.returncode == 0, run.stdout[-4000:]
    assert instance(localgce, "web-1") is None


# -- teardown over an inventory ----------------------------------------------------------------------
def test_teardown_over_an_inventory_deletes_only_what_is_named(localgce, tmp_path):
    estate = Estate(localgce)
    estate.agent_vm("web-1", ZONE)
    estate.agent_vm("web-2", ZONE)
    src = inventory(tmp_path)
    env = ansible_env(localgce, tmp_path)
    localgce.clear_requests()

    refused = run_playbook(env, "teardown", src)
    assert refused.returncode != 0
    assert "teardown over an inventory deletes the VMs of 2 host(s) (web-1, web-2): name the ones" in refused.stdout
    assert mutations(localgce) == []

    check = run_playbook(env, "teardown", src, "--check")
    assert check.returncode == 0, check.stdout[-4000:]
    for vm in ("web-1", "web-2"):
        assert ("instance %s in %s: would be deleted; firewall rule: absent; disks (none): kept" % (vm, ZONE)
                in check.stdout)
    assert mutations(localgce) == []

    run = run_playbook(env, "teardown", src, "--limit", "web-2")
    assert run.returncode == 0, run.stdout[-4000:]
    assert "instance web-2 in %s: deleted" % ZONE in run.stdout
    assert instance(localgce, "web-2") is None and instance(localgce, "web-1") is not None


# -- the container-vm label of gcloud-made VMs does not come back through gce_labels ----------------------
def test_labels_kept_from_the_inventory_leave_out_the_container_vm_label(localgce, tmp_path):
    estate = Estate(localgce)
    estate.agent_vm("web-1", ZONE, labels={"container-vm": "cos-stable-109", "team": "blue"})
    src = inventory(tmp_path, group_vars={"cos_deploy_instance": {
        "zone": "{{ gce_zone }}", "labels": "{{ gce_labels | combine({'tier': 'web'}) }}"}})
    env = ansible_env(localgce, tmp_path)
    run = run_playbook(env, "deploy", src, "-e", "cos_deploy_wait=false")
    assert run.returncode == 0, run.stdout[-4000:]
    labels = instance(localgce, "web-1")["labels"]
    assert labels == {"container-vm": "cos-stable-109", "team": "blue", "tier": "web"}
