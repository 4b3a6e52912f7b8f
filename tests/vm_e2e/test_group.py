"""A managed instance group of 3 real VMs through playbooks/deploy-group.yml (vars/group.yml), in
order on one group: it boots and every VM answers; check mode predicts the real run of a new image;
the image rolls out in place in batches of one while a sampler shows at most max_unavailable VMs
not answering at any instant, with no reboot; a stopped container's VM is autohealed; a re-run
changes nothing and only reads; real gcloud lists the VMs; teardown removes the group."""

import http.client
import json
import os
import shutil
import subprocess
import threading
import urllib.request

import pytest

from conftest import wait_for
from localgce import gcloud as localgce_gcloud
from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE
from localgce.vm.load import Load

GROUP = "grp"
PLAYBOOK = "playbooks/deploy-group.yml"
MAX_UNAVAILABLE = 1  # vars/group.yml
GROUP_TASK = "Ensure the group, its versions and its containers"


def members(e2e):
    doc = e2e.api("POST", "zones/%s/instanceGroupManagers/%s/listManagedInstances" % (DEFAULT_ZONE, GROUP), {})
    return sorted(doc.get("managedInstances") or [], key=lambda m: m["instance"])


def names(e2e):
    return [m["instance"].rsplit("/", 1)[1] for m in members(e2e)]


def answer(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode()
    except (OSError, http.client.HTTPException):  # refused, reset, or cut short while the container restarts
        return None


def changed_tasks(run):
    return [r["task"] for r in run.results if r["result"].get("changed")]


def mutations(e2e):
    return [r for r in e2e.srv.requests(mutating_only=True) if r["path"].startswith("/compute/")]


@pytest.fixture(scope="module")
def group(e2e, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("group")
    run = e2e.playbook(tmp, PLAYBOOK, "group.yml")
    assert run.rc == 0, run
    yield {"first": run, "tmp": tmp}
    down = e2e.playbook(tmp, "playbooks/teardown-group.yml", "group.yml")
    e2e.wait_idle()
    assert down.rc == 0, down


def test_three_vms_boot_and_every_container_answers(e2e, group):
    vms = names(e2e)
    assert len(vms) == 3
    for vm in vms:
        assert e2e.http_body(vm, 80) == "web v1\n"
    wait_for(lambda: all(m.get("instanceHealth", [{}])[0].get("detailedHealthState") == "HEALTHY"
                         for m in members(e2e)), "every VM HEALTHY")
    assert GROUP_TASK in " ".join(changed_tasks(group["first"]))


def test_new_image_rolls_in_place_one_vm_at_a_time_without_reboot(e2e, group, tmp_path):
    vms = names(e2e)
    urls = {vm: e2e.url_of(vm, 80) for vm in vms}
    boots = {vm: e2e.vm_info(vm)["boot_id"] for vm in vms}
    ids = {m["instance"]: m["id"] for m in members(e2e)}

    e2e.srv.clear_requests()
    check = e2e.playbook(tmp_path, PLAYBOOK, "group.yml", args=("--check", "--diff"), e2e_web_version="v2")
    assert check.rc == 0, check
    assert mutations(e2e) == []
    assert all(e2e.http_body(vm, 80) == "web v1\n" for vm in vms)

    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            bodies = {vm: answer(url) for vm, url in urls.items()}
            samples.append(sorted(vm for vm, body in bodies.items() if body not in ("web v1\n", "web v2\n")))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        real = e2e.playbook(tmp_path, PLAYBOOK, "group.yml", e2e_web_version="v2")
    finally:
        stop.set()
        sampler.join(30)
    assert real.rc == 0, real
    assert changed_tasks(check) == changed_tasks(real) and GROUP_TASK in " ".join(changed_tasks(real)), real
    rollout = real.task(GROUP_TASK)["rollout"]
    print("rollout:", json.dumps(rollout), "samples:", len(samples), "max down:", max(map(len, samples)))
    assert samples and max(len(down) for down in samples) <= MAX_UNAVAILABLE, [s for s in samples if s]
    for vm in vms:
        assert e2e.http_body(vm, 80, expect="web v2\n") == "web v2\n"
        assert e2e.vm_info(vm)["boot_id"] == boots[vm]  # no reboot
    assert {m["instance"]: m["id"] for m in members(e2e)} == ids  # no new VM


def test_stopped_container_fails_its_check_and_the_vm_is_autohealed(e2e, group, tmp_path):
    vm = names(e2e)[0]
    old_id = next(m["id"] for m in members(e2e) if m["instance"].endswith("/" + vm))
    e2e.vm(vm).exec(["systemctl", "stop", "cos-container-web.service"], check=True)

    def health():
        return next(m for m in members(e2e) if m["instance"].endswith("/" + vm)).get(
            "instanceHealth", [{}])[0].get("detailedHealthState")

    # The stopped unit closed its port in COS's host firewall: the probes get no answer at all, so the
    # check times out (TIMEOUT, a failing state autohealing acts on), as on Compute Engine.
    wait_for(lambda: health() == "TIMEOUT", "%s TIMEOUT" % vm)
    # Past the initial delay the group recreates the VM (the playbook sets the delay, and back).
    heal = e2e.playbook(tmp_path, PLAYBOOK, "group.yml", e2e_web_version="v2",
                        cos_deploy_group_autohealing={"initial_delay_sec": 0}, cos_deploy_group_wait=False)
    assert heal.rc == 0, heal
    wait_for(lambda: next((m for m in members(e2e) if m["instance"].endswith("/" + vm)), {}).get("id") not in (
        None, old_id), "%s recreated" % vm)
    back = e2e.playbook(tmp_path, PLAYBOOK, "group.yml", e2e_web_version="v2")
    assert back.rc == 0, back
    wait_for(lambda: health() == "HEALTHY", "the new %s HEALTHY" % vm)
    assert e2e.http_body(vm, 80, expect="web v2\n") == "web v2\n"


def test_rerun_changes_nothing_and_only_reads(e2e, group, tmp_path):
    e2e.srv.clear_requests()
    run = e2e.playbook(tmp_path, PLAYBOOK, "group.yml", e2e_web_version="v2")
    assert run.rc == 0, run
    assert changed_tasks(run) == [], run
    assert mutations(e2e) == []
    assert e2e.srv.requests()


def test_gcloud_lists_the_groups_vms(e2e, group, tmp_path):
    tool = shutil.which("gcloud")
    assert tool, "gcloud (the Cloud SDK) is needed on the PATH for this test"
    token = tmp_path / "token"
    token.write_text("group-token\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
    env.update(localgce_gcloud.settings(e2e.url, DEFAULT_PROJECT, str(tmp_path / "config"), str(token),
                                        zone=DEFAULT_ZONE, region=DEFAULT_ZONE.rsplit("-", 1)[0]))
    proc = subprocess.run([tool, "compute", "instance-groups", "managed", "list-instances", GROUP, "--zone",
                           DEFAULT_ZONE, "--format", "json"], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert sorted(i["instance"].rsplit("/", 1)[1] for i in listed) == names(e2e)
    assert len(listed) == 3 and all(i.get("instanceStatus") == "RUNNING" for i in listed)


def test_start_first_containers_roll_out_with_max_unavailable_0_and_lose_no_request(e2e, group, tmp_path):
    """Issue 22 item 5: the group's containers get a readiness probe (so they update start-first) and the
    policy max_unavailable 0; the rollout, under a steady load on every VM's port 80, loses no request,
    refreshes one VM at a time (max_surge 1), and replaces or reboots none."""
    vms = names(e2e)
    urls = {vm: e2e.url_of(vm, 80) for vm in vms}
    boots = {vm: e2e.vm_info(vm)["boot_id"] for vm in vms}
    ids = {m["instance"]: m["id"] for m in members(e2e)}
    containers = [{"name": "web", "image": "%s/web:v1" % e2e.extra_vars["e2e_registry"],
                   "env": {"NGINX_ENTRYPOINT_QUIET_LOGS": "1"}, "restart_policy": "always", "ports": [80], "drain": 2,
                   "readiness": {"type": "http", "port": 80, "path": "/", "interval": 1, "deadline": 120}}]
    policy = {"max_surge": "1", "max_unavailable": "0"}
    loads = {vm: Load(urls[vm]) for vm in vms}
    try:
        for load in loads.values():
            load.start(first=10)
        run = e2e.playbook(tmp_path, PLAYBOOK, "group.yml", cos_deploy_group_containers=containers,
                           cos_deploy_group_update_policy=policy)
        assert run.rc == 0, run
        counts = {vm: len(load.answers) for vm, load in loads.items()}
        wait_for(lambda: all(len(loads[vm].answers) >= counts[vm] + 10 for vm in vms), "answers after the rollout")
    finally:
        for load in loads.values():
            load.stop()
    failures = [(vm, f) for vm, load in loads.items() for f in load.failures]
    assert failures == [], failures[:5]
    rollout = run.task(GROUP_TASK)["rollout"]
    assert rollout["batches"] == [[vm] for vm in vms] and rollout["updated"] == vms, rollout
    for vm in vms:
        assert set(loads[vm].answers) <= {"web v1\n", "web v2\n"}, set(loads[vm].answers)
        assert loads[vm].answers[-1] == "web v1\n"
        assert e2e.vm_info(vm)["boot_id"] == boots[vm]  # no reboot
    assert {m["instance"]: m["id"] for m in members(e2e)} == ids  # no new VM
