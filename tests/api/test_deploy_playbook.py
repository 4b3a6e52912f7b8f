"""playbooks/deploy.yml and playbooks/teardown.yml as an operations team runs them: over a gce.cos.cos_vms
inventory of VMs made by others (the agent's, gcloud's, bare ones), against localgce over HTTP. The cos agent's
reports are published through localgce's control API, as the agent on a booted VM would publish them."""

import json
import os
import re
import subprocess
import sys

from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit
from estate import PROJECT, ROOT, Estate, ansible_env

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
ZONE = "us-central1-a"
WEB = {"name": "web", "image": "nginx:1.25", "ports": [80]}
RETRY_RE = re.compile(r"FAILED - RETRYING: \[([^\]]+)\]: .*Read the cos agent's reports .* \((\d+) retries left\)")


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
def test_a_host_without_a_container_list_is_left_alone(localgce, tmp_path):
    estate = Estate(localgce)
    estate.agent_vm("web-1", ZONE)
    estate.agent_vm("web-2", ZONE)
    before = instance(localgce, "web-2")
    src = inventory(tmp_path, host_vars={"web-1": {"cos_deploy_containers": [WEB]}})
    env = ansible_env(localgce, tmp_path)
    localgce.clear_requests()
    left_alone = ("web-2: left alone, because cos_deploy_containers is not set for this host; set it to the "
                  "containers to run, or to [] to remove them all")

    check = run_playbook(env, "deploy", src, "--check", "--diff")
    assert check.returncode == 0, check.stdout[-4000:]
    assert left_alone in check.stdout
    # deploy.yml's own summary tells the truth in check mode: nothing "written to metadata".
    assert "web: unchanged, revision" in check.stdout
    assert "written to metadata" not in check.stdout and "not waited for" not in check.stdout
    assert mutations(localgce) == []

    run = run_playbook(env, "deploy", src)
    assert run.returncode == 0, run.stdout[-4000:]
    assert left_alone in run.stdout
    assert "cos-container-web" in metadata(instance(localgce, "web-1"))
    # Nothing of web-2 was touched: not its containers, not its user-data, not its firewall rule.
    assert not [r for r in mutations(localgce) if "/web-2" in r["path"]]
    assert instance(localgce, "web-2")["metadata"] == before["metadata"]
    assert localgce.get_resource("projects/%s/global/firewalls/web-2-ports" % PROJECT) is None
    assert localgce.get_resource("projects/%s/global/firewalls/web-1-ports" % PROJECT) is not None

    # An explicit empty list is asked for by name: that host's containers go.
    (src.parent / "host_vars" / "web-2.yml").write_text(json.dumps({"cos_deploy_containers": []}))
    run = run_playbook(env, "deploy", src, "--limit", "web-2", "-e", "cos_deploy_wait=false")
    assert run.returncode == 0, run.stdout[-4000:]
    assert "cos-container-web" not in metadata(instance(localgce, "web-2"))
    assert "web: removal written in metadata (not waited for)" in run.stdout


def test_the_role_without_a_container_list_leaves_the_containers_alone(localgce, tmp_path):
    """The role used directly (here on localhost) with no cos_deploy_containers: the VM is ensured, its containers
    and the firewall rule of their ports are left as they are, and the run says so."""
    Estate(localgce).agent_vm("web-3", ZONE)
    varfile = tmp_path / "vm.yml"
    varfile.write_text(json.dumps({"cos_deploy_instance": {"name": "web-3", "zone": ZONE}}))
    run = run_playbook(ansible_env(localgce, tmp_path), "deploy", "localhost,", "-e", "@%s" % varfile)
    assert run.returncode == 0, run.stdout[-4000:]
    assert ("web-3: containers left as they are, because cos_deploy_containers is not set for this host; set it "
            "to the containers to run, or to [] to remove them all") in run.stdout
    assert "cos-container-web" in metadata(instance(localgce, "web-3"))
    assert localgce.get_resource("projects/%s/global/firewalls/web-3-ports" % PROJECT) is None


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
    src = inventory(tmp_path, group_vars={"cos_deploy_containers": [WEB], "cos_deploy_instance": {
        "zone": "{{ gce_zone }}", "labels": "{{ gce_labels | combine({'tier': 'web'}) }}"}})
    env = ansible_env(localgce, tmp_path)
    run = run_playbook(env, "deploy", src, "-e", "cos_deploy_wait=false")
    assert run.returncode == 0, run.stdout[-4000:]
    labels = instance(localgce, "web-1")["labels"]
    assert labels == {"container-vm": "cos-stable-109", "team": "blue", "tier": "web"}


# -- item 6: what needs a stopped VM, and the VM's desired status ----------------------------------------
def test_changes_that_need_a_stop_name_the_role_variable_and_a_stopped_vm_is_started(localgce, tmp_path):
    """On one VM made by the role (localhost, a vars file): a scopes and machine type change, a VM stopped by hand."""
    estate = Estate(localgce)
    varfile = tmp_path / "web.yml"
    varfile.write_text(json.dumps({"cos_deploy_instance": {"name": "web-9", "zone": ZONE},
                                   "cos_deploy_containers": [WEB]}))
    env = ansible_env(localgce, tmp_path)
    plain = ("-e", "@%s" % varfile)
    changed = ("-e", '{"cos_deploy_instance": {"name": "web-9", "zone": "%s", "scopes": ["cloud-platform"], '
                     '"machine_type": "e2-small"}}' % ZONE)
    assert run_playbook(env, "deploy", "localhost,", *plain, "-e", "cos_deploy_wait=false").returncode == 0
    report(localgce, "web-9", WEB)

    localgce.clear_requests()
    refused = run_playbook(env, "deploy", "localhost,", *plain, *changed)
    assert refused.returncode != 0
    assert ("cos_deploy_instance.machine_type, cos_deploy_instance.scopes: changing "
            "cos_deploy_instance.machine_type, cos_deploy_instance.scopes of instance 'web-9' in %s needs the VM "
            "stopped; set cos_deploy_allow_stopping_for_update: true to let the module stop and start it (it is "
            "down meanwhile), or stop it first (cos_deploy_desired_status: TERMINATED)" % ZONE) in refused.stdout
    assert mutations(localgce) == []

    run = run_playbook(env, "deploy", "localhost,", *plain, *changed, "-e", "cos_deploy_allow_stopping_for_update=true")
    assert run.returncode == 0, run.stdout[-4000:]
    inst = instance(localgce, "web-9")
    assert inst["status"] == "RUNNING" and inst["machineType"].endswith("/e2-small")
    assert inst["serviceAccounts"][0]["scopes"] == ["https://www.googleapis.com/auth/cloud-platform"]

    # Stopped by hand: the next deploy starts it again (desired status RUNNING by default) ...
    estate.instances.stop_unary(project=PROJECT, zone=ZONE, instance="web-9")
    assert instance(localgce, "web-9")["status"] == "TERMINATED"
    run = run_playbook(env, "deploy", "localhost,", *plain, *changed)
    assert run.returncode == 0, run.stdout[-4000:]
    assert instance(localgce, "web-9")["status"] == "RUNNING"
    # ... and cos_deploy_desired_status: TERMINATED stops it, without waiting for its containers.
    localgce.clear_requests()
    run = run_playbook(env, "deploy", "localhost,", *plain, *changed, "-e", "cos_deploy_desired_status=TERMINATED")
    assert run.returncode == 0, run.stdout[-4000:]
    assert instance(localgce, "web-9")["status"] == "TERMINATED"
    assert "web-9 is TERMINATED: its containers start when it runs (not waited for)" in run.stdout
    assert not [r for r in localgce.requests() if r["path"].endswith("/getGuestAttributes")]


# -- item 8: adopting a VM made without the agent ------------------------------------------------------------
def test_adopting_a_vm_without_the_agent_is_refused_unless_restarted_and_the_diff_shows_the_user_data(
        localgce, tmp_path):
    estate = Estate(localgce)
    estate.unmanaged_vm("bare-1", ZONE)  # made by gcloud or the Console: no user-data, no agent
    src = inventory(tmp_path, group_vars={"cos_deploy_containers": [WEB]})
    env = ansible_env(localgce, tmp_path)
    localgce.clear_requests()

    for extra in (["--check"], ["-e", "cos_deploy_wait=false"], []):
        refused = run_playbook(env, "deploy", src, *extra)
        assert refused.returncode != 0, (extra, refused.stdout[-4000:])
        assert ("instance 'bare-1' in %s runs without the cos agent: the new user-data installs it, but cloud-init "
                "runs only at a boot, so nothing would run the containers; set cos_deploy_restart_for_user_data: "
                "true to stop and start the VM once now" % ZONE) in refused.stdout, extra
    assert mutations(localgce) == []
    assert "cos-container-web" not in metadata(instance(localgce, "bare-1"))

    check = run_playbook(env, "deploy", src, "--check", "--diff", "-e", "cos_deploy_restart_for_user_data=true")
    assert check.returncode == 0, check.stdout[-4000:]
    # The user-data, before (none) and after, line by line as text.
    assert re.search(r'^\+\s+"#cloud-config",$', check.stdout, re.M), check.stdout[-6000:]
    assert "stop instance 'bare-1' so that cloud-init applies the new user-data and the cos agent starts" \
        in check.stdout or "changed: [bare-1]" in check.stdout
    assert mutations(localgce) == []

    localgce.clear_requests()
    run = run_playbook(env, "deploy", src, "-e", "cos_deploy_restart_for_user_data=true", "-e", "cos_deploy_wait=false")
    assert run.returncode == 0, run.stdout[-4000:]
    paths = [r["path"] for r in mutations(localgce)]
    metadata_at = paths.index("/compute/v1/projects/%s/zones/%s/instances/bare-1/setMetadata" % (PROJECT, ZONE))
    stop_at = paths.index("/compute/v1/projects/%s/zones/%s/instances/bare-1/stop" % (PROJECT, ZONE))
    start_at = paths.index("/compute/v1/projects/%s/zones/%s/instances/bare-1/start" % (PROJECT, ZONE))
    assert metadata_at < stop_at < start_at
    inst = instance(localgce, "bare-1")
    assert inst["status"] == "RUNNING" and "cos-container-web" in metadata(inst)


def test_a_user_data_change_on_a_vm_with_the_agent_says_it_waits_for_the_next_boot(localgce, tmp_path):
    Estate(localgce).agent_vm("web-1", ZONE)
    report(localgce, "web-1", WEB)
    src = inventory(tmp_path, group_vars={"cos_deploy_containers": [WEB]})
    env = ansible_env(localgce, tmp_path)
    localgce.clear_requests()
    check = run_playbook(env, "deploy", src, "--check")
    assert check.returncode == 0, check.stdout[-4000:]
    assert ("web-1: the user-data would change, and cloud-init applies it only at the next boot (the VM was not "
            "restarted): set cos_deploy_restart_for_user_data: true") in check.stdout
    run = run_playbook(env, "deploy", src)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "web-1: the user-data changed, and cloud-init applies it only at the next boot" in run.stdout
    assert not [r for r in mutations(localgce) if r["path"].endswith(("/stop", "/start", "/reset"))]
    localgce.clear_requests()
    again = run_playbook(env, "deploy", src)
    assert again.returncode == 0 and "the user-data changed" not in again.stdout
    assert mutations(localgce) == []


# -- item 9: the wait shows progress, stops early on a failure, and names the role's variables ------------------
def test_the_wait_prints_each_poll_and_times_out_naming_the_role_variables(localgce, tmp_path):
    Estate(localgce).agent_vm("web-1", ZONE, report=False)
    spec = dict(WEB, image="nginx:1.27")
    src = inventory(tmp_path, group_vars={"cos_deploy_containers": [spec]})
    env = ansible_env(localgce, tmp_path)
    localgce.clear_requests()
    run = run_playbook(env, "deploy", src, "-e", "cos_deploy_wait_timeout=12")
    assert run.returncode != 0
    retries = RETRY_RE.findall(run.stdout)
    assert retries == [("web-1", "1")], run.stdout[-4000:]
    revision = container_unit.build(spec)["revision"]
    assert ("timed out after 12s (cos_deploy_wait_timeout) waiting for the cos agent on instance 'web-1' in "
            "us-central1-a: web: no report yet (want revision %s)" % revision) in run.stdout
    assert "Raise cos_deploy_wait_timeout, or set cos_deploy_wait: false" in run.stdout
    assert "wait_timeout, or set wait: false" not in run.stdout.replace("cos_deploy_wait", "")
    # The polls only read: the guest attributes and the instance, twice.
    reads = [r for r in localgce.requests() if r["path"].endswith("/instances/web-1/getGuestAttributes")]
    assert len(reads) == 2


def test_the_wait_stops_at_the_first_failed_report_with_the_agents_error(localgce, tmp_path):
    Estate(localgce).agent_vm("web-1", ZONE, report=False)
    spec = dict(WEB, image="nginx:1.27")
    revision = report(localgce, "web-1", spec, state="failed", error="pull access denied for nginx")
    src = inventory(tmp_path, group_vars={"cos_deploy_containers": [spec]})
    run = run_playbook(ansible_env(localgce, tmp_path), "deploy", src)
    assert run.returncode != 0
    assert RETRY_RE.findall(run.stdout) == []
    assert ("container web on instance 'web-1' in us-central1-a failed at revision %s, as the cos agent reports: "
            "pull access denied for nginx" % revision) in run.stdout


def test_the_wait_ends_with_what_the_agent_runs(localgce, tmp_path):
    Estate(localgce).agent_vm("web-1", ZONE, report=False)
    spec = dict(WEB, image="nginx:1.27")
    report(localgce, "web-1", spec)
    src = inventory(tmp_path, group_vars={"cos_deploy_containers": [spec]})
    run = run_playbook(ansible_env(localgce, tmp_path), "deploy", src)
    assert run.returncode == 0, run.stdout[-4000:]
    assert re.search(r'"msg": "web: running, revision [0-9a-f]+, image nginx:1.27 sha256:b{64}"', run.stdout)


# -- every input error at once, with the index and a did-you-mean hint, the boolean hint once -----------------
def test_every_input_error_is_reported_at_once_before_any_api_call(localgce, tmp_path):
    bad = [{"name": "web", "image": "nginx:1.27", "imagePullPolicy": "Always", "env": {"DEBUG": True},
            "volumes": [{"device_name": "nodisk", "container_path": "/data"}]},
           {"name": "api", "image": "nginx:1.27", "prots": [80]}]
    varfile = tmp_path / "bad.yml"
    varfile.write_text(json.dumps({"cos_deploy_instance": {"name": "bad-1", "zone": ZONE},
                                   "cos_deploy_containers": bad}))
    env = ansible_env(localgce, tmp_path)
    localgce.clear_requests()
    run = subprocess.run([PLAYBOOK, "playbooks/deploy.yml", "-e", "@%s" % varfile], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode != 0
    (msg,) = [m for m in re.findall(r'"msg": "(.*)"', run.stdout)]
    assert "cos_deploy_containers[0].imagePullPolicy: " in msg and "is not a known field. Fix: remove it; known" in msg
    assert "cos_deploy_containers[1].prots: [80] is not a known field. Fix: did you mean 'ports'?" in msg
    assert ('cos_deploy_containers[0].volumes[0].device_name: \\"nodisk\\" is not the device_name of a disk '
            'in cos_deploy_disks') in msg
    assert msg.count("quote it in YAML") == 1 and "cos_deploy_containers[0].env.DEBUG" in msg
    assert [r for r in localgce.requests() if r["path"].startswith("/compute/")] == []


# -- issue 23: a unit too large for metadata fails before the first disk exists --------------------------
def test_a_unit_too_large_for_metadata_fails_before_the_first_disk_exists(localgce, tmp_path):
    """The role builds every unit (as cos_container does) in its first task: a unit over a metadata value's 256 KB
    stops the run there, with no disk, no instance and no firewall rule created, not at the containers task."""
    big = {"name": "big", "image": "nginx:1.27", "ports": [80], "env": {"BLOB": "x" * (256 * 1024)}}
    varfile = tmp_path / "big.yml"
    varfile.write_text(json.dumps({"cos_deploy_instance": {"name": "big-1", "zone": ZONE},
                                   "cos_deploy_disks": [{"name": "big-1-data", "size_gb": 10}],
                                   "cos_deploy_containers": [WEB, big]}))
    env = ansible_env(localgce, tmp_path)
    localgce.clear_requests()
    run = run_playbook(env, "deploy", "localhost,", "-e", "@%s" % varfile)
    assert run.returncode != 0
    (msg,) = re.findall(r'"msg": "(.*)"', run.stdout)
    assert msg.startswith("cos_deploy_containers[1]: the unit of container big (metadata key cos-container-big): "
                          "the value has "), msg
    assert "a metadata value may hold at most 262144 (256 KB)" in msg
    assert mutations(localgce) == []
    assert localgce.get_resource("projects/%s/zones/%s/disks/big-1-data" % (PROJECT, ZONE)) is None
    assert instance(localgce, "big-1") is None


# -- issue 22: the update options' bad input, refused by the role before any API call ---------------------
def test_bad_readiness_and_update_order_are_refused_before_any_api_call(localgce, tmp_path):
    probe = {"type": "http", "port": 80, "path": "/"}
    bad = [
        # A probe on a port the container does not declare.
        dict(WEB, name="a", readiness=dict(probe, port=8081)),
        # start-first with the host network on a declared port.
        dict(WEB, name="b", readiness=probe, order="start-first", network="host"),
        # A deadline shorter than the probe's interval.
        dict(WEB, name="c", readiness=dict(probe, interval=10, deadline=5)),
        # A drain longer than the agent keeps an old revision after the switch.
        dict(WEB, name="d", readiness=probe, drain=3600),
    ]
    varfile = tmp_path / "bad.yml"
    varfile.write_text(json.dumps({"cos_deploy_instance": {"name": "bad-2", "zone": ZONE},
                                   "cos_deploy_containers": bad}))
    env = ansible_env(localgce, tmp_path)
    localgce.clear_requests()
    run = run_playbook(env, "deploy", "localhost,", "-e", "@%s" % varfile)
    assert run.returncode != 0
    (msg,) = re.findall(r'"msg": "(.*)"', run.stdout)
    for field in ("cos_deploy_containers[0].readiness.port: 8081", "cos_deploy_containers[1].order: ",
                  "cos_deploy_containers[2].readiness.deadline: 5 is shorter than the interval (10s)",
                  "cos_deploy_containers[3].drain: 3600"):
        assert field in msg, (field, msg)
    assert "cannot work with network: host" in msg and "is longer than the agent keeps an old revision" in msg
    assert [r for r in localgce.requests() if r["path"].startswith("/compute/")] == []
