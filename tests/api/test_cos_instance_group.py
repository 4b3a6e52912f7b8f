"""gce.cos.cos_instance_group against localgce: the real module as a subprocess, the real client underneath.

Templates and health checks are made with google-cloud-compute (group_fixtures.py); the cos agents of
the group's VMs are stood in for by FakeAgents, which reads each VM's metadata server and writes the
agent's guest-attribute reports over HTTP, as the agent does.
"""

import pytest
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit
from group_fixtures import (
    PROJECT,
    REGION,
    ZONE,
    FakeAgents,
    containers_of,
    control,
    group_vms,
    health_check,
    template,
)
from module_runner import calls, connection, mutating, run_module

WEB = {"name": "web", "image": "nginx:1.27", "ports": ["80"]}


def group(lg, check_mode=False, **args):
    base = dict(connection(lg), name="web", zone=ZONE, wait_timeout=60)
    base.update(args)
    # None drops an option (zone=None for a regional group), as leaving it out of a task does.
    return run_module("cos_instance_group", {k: v for k, v in base.items() if v is not None}, check_mode=check_mode)


def igm(lg, name="web", zone=ZONE, region=None):
    scope = "regions/%s" % region if region else "zones/%s" % zone
    return lg.get_resource("projects/%s/%s/instanceGroupManagers/%s" % (PROJECT, scope, name))


def members(lg, name="web", zone=ZONE):
    with lg.app.store.lock:
        rec = lg.app.store.priv("projects/%s/zones/%s/instanceGroupManagers/%s" % (PROJECT, zone, name))
        return {n: m["template"].rsplit("/", 1)[-1] for n, m in rec.get("members", {}).items()}


def only_reads(lg):
    """The request log since the last clear has no mutation, and only GETs."""
    log = lg.requests()
    assert mutating(log) == [], calls(mutating(log))
    assert {r["method"] for r in log} == {"GET"}, calls(log)
    return log


def test_create_zonal_then_noop_is_one_get_then_patch(localgce):
    template(localgce, "web-v1")
    created = group(localgce, target_size=3, instance_template="web-v1", named_ports=[{"name": "http", "port": 80}],
                    update_policy={"max_surge": "1", "max_unavailable": "0"})
    assert not created.failed, created.get("msg")
    assert created["changed"] and created["actions"] == [
        "create instance group 'web' in us-central1-a (3 VMs of web-v1)"]
    g = created["group"]
    assert g["status"] == {"is_stable": True, "version_target_reached": True, "all_instances_config_effective": True}
    assert g["named_ports"] == [{"name": "http", "port": 80}]
    assert g["update_policy"]["max_surge"] == "1" and g["update_policy"]["max_unavailable"] == "0"
    assert g["update_policy"]["type"] == "PROACTIVE"
    assert len(members(localgce)) == 3 and set(members(localgce).values()) == {"web-v1"}
    assert created["diff"]["before"] == {} and created["diff"]["after"]["target_size"] == 3

    localgce.clear_requests()
    again = group(localgce, target_size=3, instance_template="web-v1", named_ports=[{"name": "http", "port": 80}],
                  update_policy={"max_surge": "1", "max_unavailable": "0"})
    assert not again.failed and not again["changed"] and again["actions"] == []
    log = only_reads(localgce)
    assert calls(log) == ["GET projects/test-project/zones/us-central1-a/instanceGroupManagers/web"]

    # Check mode reports exactly the plan of the real run, and sends nothing.
    localgce.clear_requests()
    checked = group(localgce, check_mode=True, target_size=4, instance_template="web-v1")
    assert not checked.failed and checked["changed"]
    only_reads(localgce)
    assert checked["diff"]["before"]["target_size"] == 3 and checked["diff"]["after"]["target_size"] == 4
    real = group(localgce, target_size=4, instance_template="web-v1")
    assert real["actions"] == checked["actions"] == [
        "patch instance group 'web' in us-central1-a (target_size 3 -> 4)"]
    assert real["diff"] == checked["diff"]
    assert real["group"]["target_size"] == 4 and real["group"]["status"]["is_stable"]
    assert len(members(localgce)) == 4
    # What was not given stayed as it was.
    assert igm(localgce)["namedPorts"] == [{"name": "http", "port": 80}]


def test_regional_group_spreads_over_target_zones(localgce):
    template(localgce, "web-v1")
    zones = ["us-central1-a", "us-central1-b"]
    r = group(localgce, zone=None, region=REGION, target_zones=zones, target_size=4, instance_template="web-v1",
              update_policy={"max_surge": "2", "max_unavailable": "0"})
    assert not r.failed, r.get("msg")
    assert r["group"]["region"] == REGION and r["group"]["target_zones"] == zones
    api = igm(localgce, region=REGION)
    assert sorted(z["zone"].rsplit("/", 1)[-1] for z in api["distributionPolicy"]["zones"]) == zones
    assert sorted(group_vms(localgce, zones).values()) == ["us-central1-a"] * 2 + ["us-central1-b"] * 2
    localgce.clear_requests()
    again = group(localgce, zone=None, region=REGION, target_zones=zones, target_size=4, instance_template="web-v1")
    assert not again["changed"]
    only_reads(localgce)
    moved = group(localgce, zone=None, region=REGION, target_zones=["us-central1-a", "us-central1-c"],
                  target_size=4, instance_template="web-v1")
    assert moved.failed and "target_zones" in moved["msg"] and "fixed at creation" in moved["msg"]


def test_canary_then_full_rollout_of_a_new_template_is_waited_for(localgce):
    template(localgce, "web-v1")
    template(localgce, "web-v2")
    group(localgce, target_size=3, instance_template="web-v1", update_policy={"max_surge": "1", "max_unavailable": "0"})
    canary = group(localgce, target_size=3, versions=[{"instance_template": "web-v1"},
                                                      {"instance_template": "web-v2", "target_size": "1"}])
    assert not canary.failed, canary.get("msg")
    assert canary["group"]["versions"][1] == {
        "instance_template": "projects/test-project/global/instanceTemplates/web-v2", "target_size": "1"}
    # The module returned only once the version target was reached.
    assert canary["group"]["status"]["version_target_reached"]
    assert sorted(members(localgce).values()) == ["web-v1", "web-v1", "web-v2"]
    full = group(localgce, target_size=3, instance_template="web-v2")
    assert not full.failed and full["group"]["status"]["version_target_reached"]
    assert sorted(members(localgce).values()) == ["web-v2"] * 3
    # A percent canary in a group of 10 or more.
    pct = group(localgce, target_size=10, versions=[{"instance_template": "web-v2"},
                                                    {"instance_template": "web-v1", "target_size": "20%"}])
    assert not pct.failed, pct.get("msg")
    assert sorted(members(localgce).values()).count("web-v1") == 2


def test_autohealing_and_stateful_disks(localgce):
    template(localgce, "db-v1", data_disk=True)
    health_check(localgce, "db-tcp")
    args = dict(name="db", target_size=2, instance_template="db-v1",
                autohealing={"health_check": "db-tcp", "initial_delay_sec": 0},
                stateful_disks=[{"device_name": "data"}],
                update_policy={"replacement_method": "RECREATE", "max_surge": "0", "max_unavailable": "1"})
    r = group(localgce, **args)
    assert not r.failed, r.get("msg")
    assert r["group"]["autohealing"] == {"health_check": "projects/test-project/global/healthChecks/db-tcp",
                                         "initial_delay_sec": 0}
    assert r["group"]["stateful_disks"] == [{"device_name": "data", "auto_delete": "never"}]
    api = igm(localgce, "db")
    assert api["statefulPolicy"]["preservedState"]["disks"] == {"data": {"autoDelete": "NEVER"}}
    # An unhealthy VM is recreated under its name with its data disk; the module waits until stable again.
    vm = sorted(members(localgce, "db"))[0]
    disk_before = [d["source"] for d in lg_instance(localgce, vm)["disks"] if d["deviceName"] == "data"]
    control(localgce, "instance-health", {"project": PROJECT, "zone": ZONE, "instance": vm, "health": "UNHEALTHY"})
    healed = group(localgce, **args)
    assert not healed.failed and not healed["changed"] and healed["group"]["status"]["is_stable"]
    assert [d["source"] for d in lg_instance(localgce, vm)["disks"] if d["deviceName"] == "data"] == disk_before
    changed = group(localgce, **dict(args, stateful_disks=[{"device_name": "data",
                                                            "auto_delete": "on-permanent-instance-deletion"}]))
    assert changed["changed"] and igm(localgce, "db")["statefulPolicy"]["preservedState"]["disks"] == {
        "data": {"autoDelete": "ON_PERMANENT_INSTANCE_DELETION"}}


def test_a_stateful_group_defaults_to_recreate_without_surge(localgce):
    # gcloud's and the API's defaults for a group with stateful disks: VMs are recreated under their
    # names (their disks follow them), so no VM is surged.
    template(localgce, "db-v1", data_disk=True)
    r = group(localgce, name="db", target_size=2, instance_template="db-v1", stateful_disks=[{"device_name": "data"}])
    assert not r.failed, r.get("msg")
    policy = igm(localgce, "db")["updatePolicy"]
    assert policy["replacementMethod"] == "RECREATE" and policy["maxSurge"]["fixed"] == 0, policy
    assert r["group"]["update_policy"]["replacement_method"] == "RECREATE"
    # Without stateful disks the group keeps SUBSTITUTE, the API's default.
    plain = group(localgce, name="web", target_size=1, instance_template="db-v1")
    assert not plain.failed and igm(localgce, "web")["updatePolicy"]["replacementMethod"] == "SUBSTITUTE"


def lg_instance(lg, name, zone=ZONE):
    return lg.get_resource("projects/%s/zones/%s/instances/%s" % (PROJECT, zone, name))


def test_containers_roll_out_in_batches_through_the_agents(localgce):
    template(localgce, "web-v1")
    policy = {"max_surge": "1", "max_unavailable": "1"}
    with FakeAgents(localgce) as agents:
        first = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[WEB])
        assert not first.failed, first.get("msg")
        old = container_unit.build(WEB)
        vms = sorted(members(localgce))
        assert all(containers_of(localgce, vm) == {"web": old["unit"]} for vm in vms)
        ids = {vm: lg_instance(localgce, vm)["id"] for vm in vms}

        web2 = dict(WEB, image="nginx:1.28")
        new = container_unit.build(web2)
        localgce.clear_requests()
        checked = group(localgce, check_mode=True, target_size=3, instance_template="web-v1", update_policy=policy,
                        containers=[web2])
        assert not checked.failed, checked.get("msg")
        assert mutating(localgce.requests()) == []
        assert checked["rollout"]["batches"] == [[vm] for vm in vms]
        assert checked["diff"]["before"]["containers"]["web"]["image"] == "nginx:1.27"
        assert checked["diff"]["after"]["containers"]["web"]["image"] == "nginx:1.28"
        agents.samples.clear()
        rolled = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[web2])
        assert not rolled.failed, rolled.get("msg")
        assert rolled["actions"] == checked["actions"]
        assert rolled["actions"][0].startswith("patch instance group 'web' in us-central1-a (containers")
        assert "update_policy.type OPPORTUNISTIC" in rolled["actions"][0]
        assert rolled["actions"][-1].startswith("patch instance group 'web' in us-central1-a (update_policy.type "
                                                "OPPORTUNISTIC -> PROACTIVE")
        assert len(rolled["actions"]) == 5
        assert rolled["rollout"]["updated"] == vms and rolled["rollout"]["pending"] == []
        assert rolled["group"]["update_policy"]["type"] == "PROACTIVE"
        assert rolled["group"]["status"]["all_instances_config_effective"]
        refreshes = [r for r in localgce.requests() if r["path"].endswith("/applyUpdatesToInstances")]
        assert len(refreshes) == 3
        # Every VM has the new unit, and none was replaced or recreated.
        assert all(containers_of(localgce, vm) == {"web": new["unit"]} for vm in vms)
        assert {vm: lg_instance(localgce, vm)["id"] for vm in vms} == ids
        # Sampling: at any instant at most max_unavailable (1) VM had the new unit without reporting it, and
        # during the rollout some VMs had the new revision while the others still had the old one.
        new_rev = (("web", new["revision"]),)
        old_rev = (("web", old["revision"]),)
        in_flight = [sum(1 for rev, reported in s.values() if rev == new_rev and not reported) for s in agents.samples]
        assert max(in_flight) == 1
        mixed = [s for s in agents.samples if {rev for rev, _ in s.values()} == {new_rev, old_rev}]
        assert mixed

        localgce.clear_requests()
        again = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[web2])
        assert not again["changed"]
        only_reads(localgce)


def test_a_container_removed_from_the_group_goes_from_every_vm(localgce):
    template(localgce, "web-v1")
    policy = {"max_surge": "1", "max_unavailable": "1"}
    side = {"name": "side", "image": "busybox:1.36", "command": ["sleep", "infinity"]}
    with FakeAgents(localgce) as agents:
        first = group(localgce, target_size=2, instance_template="web-v1", update_policy=policy,
                      containers=[WEB, side])
        assert not first.failed, first.get("msg")
        vms = sorted(members(localgce))
        assert all(set(containers_of(localgce, vm)) == {"web", "side"} for vm in vms)
        dropped = group(localgce, target_size=2, instance_template="web-v1", update_policy=policy, containers=[WEB])
        assert not dropped.failed and dropped["changed"], dropped.get("msg")
        assert "side removed" in " ".join(dropped["actions"])
        # The API merges a patch into the all-instances map and the client cannot send the null that
        # deletes a key: the key is emptied, which the agents (and every reader) take as no key.
        aic = igm(localgce)["allInstancesConfig"]["properties"]["metadata"]
        assert aic["cos-container-side"] == "" and aic["cos-container-web"]
        assert all(containers_of(localgce, vm) == {"web": container_unit.build(WEB)["unit"]} for vm in vms)
        assert set(dropped["group"]["containers"]) == {"web"}
        assert all(set(agents.reported[vm]) == {("web", dict(agents.reported[vm])["web"])} for vm in vms)
        localgce.clear_requests()
        again = group(localgce, target_size=2, instance_template="web-v1", update_policy=policy, containers=[WEB])
        assert not again["changed"], again.get("actions")
        only_reads(localgce)


def test_a_failing_batch_stops_the_rollout_and_a_rerun_resumes(localgce):
    template(localgce, "web-v1")
    policy = {"max_surge": "1", "max_unavailable": "1"}
    with FakeAgents(localgce):
        group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[WEB])
        vms = sorted(members(localgce))
        old = container_unit.build(WEB)
        broken = dict(WEB, image="registry.example/broken:1")
        failed = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[broken])
        assert failed.failed and failed["changed"]
        msg = failed["msg"]
        assert "stopped in batch 1 of 3, at VM %s" % vms[0] in msg
        assert "manifest for registry.example/broken:1 not found" in msg
        assert "Not reached, still on the old revision: %s, %s" % (vms[1], vms[2]) in msg
        assert failed["rollout"]["not_reached"] == vms[1:] and failed["rollout"]["failed_vm"] == vms[0]
        # The failed batch is rolled back: its VM and the group's all-instances configuration (what new and
        # autohealed VMs get) have the old unit again, and its agent reports the old revision running.
        assert "Rolled back: %s run the containers %s ran before this run again (revisions web %s)" % (
            vms[0], vms[0], old["revision"]) in msg
        assert failed["rollout"]["rolled_back"] == [vms[0]]
        assert containers_of(localgce, vms[0]) == {"web": old["unit"]}
        assert igm(localgce)["allInstancesConfig"]["properties"]["metadata"]["cos-container-web"] == old["unit"]
        # The VMs not reached keep the old unit; the group does not roll them itself.
        for vm in vms[1:]:
            assert containers_of(localgce, vm) == {"web": old["unit"]}
        assert igm(localgce)["updatePolicy"]["type"] == "OPPORTUNISTIC"
        assert all(containers_of(localgce, vm) == {"web": old["unit"]} for vm in vms[1:])

        fixed = dict(WEB, image="nginx:1.28")
        resumed = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[fixed])
        assert not resumed.failed, resumed.get("msg")
        assert resumed["rollout"]["batches"] == [[vm] for vm in vms]
        assert all(containers_of(localgce, vm) == {"web": container_unit.build(fixed)["unit"]} for vm in vms)
        assert igm(localgce)["updatePolicy"]["type"] == "PROACTIVE"


def test_max_unavailable_0_rolls_start_first_containers_in_batches_of_max_surge(localgce):
    template(localgce, "web-v1")
    policy = {"max_surge": "2", "max_unavailable": "0"}
    ready = dict(WEB, readiness={"type": "http", "port": 80, "path": "/"})
    with FakeAgents(localgce) as agents:
        first = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[ready])
        assert not first.failed, first.get("msg")
        vms = sorted(members(localgce))
        agents.wait_reported(vms)
        assert container_unit.build(ready)["spec"]["order"] == "start-first"
        rolled = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy,
                       containers=[dict(ready, image="nginx:1.28")])
        assert not rolled.failed, rolled.get("msg")
        # Each VM keeps serving while its new revision starts beside the old one: batches of max_surge VMs.
        assert rolled["rollout"]["batches"] == [vms[:2], vms[2:]]
        assert rolled["rollout"]["updated"] == vms


def test_max_unavailable_0_refuses_a_stop_first_container_with_ports_before_any_change(localgce):
    template(localgce, "web-v1")
    policy = {"max_surge": "1", "max_unavailable": "0"}
    with FakeAgents(localgce) as agents:
        first = group(localgce, target_size=2, instance_template="web-v1", update_policy=policy, containers=[WEB])
        assert not first.failed, first.get("msg")
        agents.wait_reported(sorted(members(localgce)))
        localgce.clear_requests()
        for check_mode in (True, False):
            r = group(localgce, check_mode=check_mode, target_size=2, instance_template="web-v1",
                      update_policy=policy, containers=[dict(WEB, image="nginx:1.28")])
            assert r.failed and not r.get("changed"), r
            assert "update_policy.max_unavailable: 0 promises that no VM of instance group 'web' in us-central1-a " \
                   "stops serving, but container web (ports 80/tcp) updates stop-first" in r["msg"], r["msg"]
            assert "Give web a readiness probe" in r["msg"]
        assert mutating(localgce.requests()) == []
        # A container added, or one that does not change, is not refused: nothing of it stops serving.
        side = {"name": "side", "image": "busybox:1.36", "command": ["sleep", "infinity"], "ports": ["8080"]}
        added = group(localgce, target_size=2, instance_template="web-v1", update_policy=policy,
                      containers=[WEB, side])
        assert not added.failed, added.get("msg")


def test_wait_timeout_names_what_is_pending(localgce):
    template(localgce, "web-v1")
    with FakeAgents(localgce) as agents:
        group(localgce, target_size=2, instance_template="web-v1", containers=[WEB])
        vms = sorted(members(localgce))
        agents.wait_reported(vms)
    # No agent now: the first VM of the rollout never reports the new revision.
    r = group(localgce, target_size=2, instance_template="web-v1", wait_timeout=2,
              containers=[dict(WEB, image="nginx:1.28")])
    assert r.failed and r["changed"]
    assert "stopped in batch 1 of 2, at VM %s: timed out after" % vms[0] in r["msg"]
    assert "waiting for the cos agent" in r["msg"]
    assert "want revision %s running" % container_unit.build(dict(WEB, image="nginx:1.28"))["revision"] in r["msg"]


def test_delete(localgce):
    template(localgce, "web-v1")
    group(localgce, target_size=2, instance_template="web-v1")
    checked = group(localgce, check_mode=True, state="absent")
    assert checked["changed"] and igm(localgce) is not None
    gone = group(localgce, state="absent")
    assert gone["changed"] and gone["actions"] == checked["actions"] and igm(localgce) is None
    assert group_vms(localgce) == {}
    localgce.clear_requests()
    assert not group(localgce, state="absent")["changed"]
    only_reads(localgce)


@pytest.mark.parametrize("args, expected", [
    (dict(target_size=3, update_policy={"max_surge": "20%"}),
     "update_policy.max_surge: '20%' is a percent, which the API accepts only for groups of 10 or more VMs"),
    (dict(target_size=3, update_policy={"max_surge": "0", "max_unavailable": "0"}),
     "update_policy: max_surge 0 with max_unavailable 0 lets no VM be updated"),
    (dict(target_size=3, update_policy={"max_unavailable": "one"}),
     "update_policy.max_unavailable: 'one' is not a number of VMs or a percent"),
    (dict(target_size=2, instance_template=None, versions=[{"instance_template": "web-v1"},
                                                           {"instance_template": "web-v2", "target_size": "3"}]),
     "versions[1].target_size: '3' is larger than the group (target_size 2)"),
    (dict(target_size=3, target_zones=["us-central1-b"]), "target_zones: ['us-central1-b'] applies to regional groups"),
    (dict(zone=None, region=REGION, target_size=3, update_policy={"max_surge": "1"}),
     "update_policy.max_surge: '1' is fewer than the 3 zones of this regional group"),
    (dict(target_size=3, stateful_disks=[{"device_name": "data"}], update_policy={"replacement_method": "SUBSTITUTE"}),
     "update_policy.replacement_method: SUBSTITUTE with stateful_disks"),
    (dict(target_size=3, update_policy={"replacement_method": "RECREATE", "max_surge": "1"}),
     "update_policy.max_surge: '1' with replacement_method RECREATE"),
    (dict(target_size=3, containers=[{"name": "web", "image": "nginx", "ports": ["99999"]}]),
     "containers[0].ports"),
])
def test_bad_input_is_refused_before_any_api_call(localgce, args, expected):
    base = dict(instance_template="web-v1")
    base.update(args)
    localgce.clear_requests()
    r = group(localgce, **base)
    assert r.failed and expected in r["msg"], r["msg"]
    assert localgce.requests() == []


AGENT_ERROR = ("unit cos-container-web.service failed: result exit-code, exit status 1; nginx: [emerg] "
               "host not found in upstream \"db\"")


def test_a_rollout_resumed_after_a_timeout_checks_the_vm_refreshed_before(localgce):
    # The first run times out on the first VM (its agent is slow); that VM then reports the new revision
    # failed. The re-run must not end green: it checks the VM refreshed before, stops there naming the VM,
    # the container, the revision and the agent's error, and refreshes no other VM.
    template(localgce, "web-v1")
    policy = {"max_surge": "1", "max_unavailable": "1"}
    with FakeAgents(localgce) as agents:
        group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[WEB])
        vms = sorted(members(localgce))
        agents.wait_reported(vms)
    web2 = dict(WEB, image="nginx:1.28")
    new = container_unit.build(web2)
    old = container_unit.build(WEB)
    timed_out = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[web2],
                      wait_timeout=2)
    assert timed_out.failed and "stopped in batch 1 of 3, at VM %s: timed out" % vms[0] in timed_out["msg"]
    assert containers_of(localgce, vms[0]) == {"web": new["unit"]}
    with FakeAgents(localgce, failing={vms[0]: AGENT_ERROR}) as agents:
        agents.wait_reported(vms)
        resumed = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy,
                        containers=[web2])
    assert resumed.failed, "a resumed rollout ended green while %s reports failed: %s" % (vms[0], resumed)
    msg = resumed["msg"]
    assert "stopped while checking the VMs refreshed before this run, at VM %s" % vms[0] in msg
    assert "container web failed at revision %s, as its cos agent reports: %s" % (new["revision"], AGENT_ERROR) in msg
    assert "Updated before: none" in msg and "Refreshed before this run, not verified: %s" % vms[0] in msg
    assert "Not reached, still on the old revision: %s, %s" % (vms[1], vms[2]) in msg
    assert resumed["rollout"]["failed_vm"] == vms[0] and resumed["rollout"]["refreshed_before"] == [vms[0]]
    # Nothing more was refreshed: the others keep the old revision, and the policy stays OPPORTUNISTIC.
    assert all(containers_of(localgce, vm) == {"web": old["unit"]} for vm in vms[1:])
    assert igm(localgce)["updatePolicy"]["type"] == "OPPORTUNISTIC"


def test_a_rollout_resumed_after_an_interruption_says_what_was_updated_before(localgce):
    # The first run is interrupted by a fault injected through /_localgce/faults as its second batch starts;
    # the re-run checks the VM the first run updated, then resumes, and when the next VM's agent reports
    # failed, its error names the VM updated before by the earlier run.
    template(localgce, "web-v1")
    policy = {"max_surge": "1", "max_unavailable": "1"}
    web2 = dict(WEB, image="nginx:1.28")
    new = container_unit.build(web2)
    with FakeAgents(localgce) as agents:
        group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[WEB])
        vms = sorted(members(localgce))
        agents.wait_reported(vms)

        def interrupt(vm, revisions):
            # The first VM reports the new revision: the module's next request is the second batch's refresh.
            if vm == vms[0] and dict(revisions).get("web") == new["revision"] and not agents.failing:
                control(localgce, "faults", {"method": "POST", "path": "applyUpdatesToInstances", "count": 1,
                                             "operation_error": {"code": "INTERNAL_ERROR",
                                                                 "message": "the job was interrupted"}})
                agents.failing[vms[1]] = AGENT_ERROR

        agents.on_report = interrupt
        first = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy, containers=[web2])
        assert first.failed and first["changed"] and "the job was interrupted" in first["msg"], first
        assert containers_of(localgce, vms[0]) == {"web": new["unit"]}
        assert containers_of(localgce, vms[1])["web"] != new["unit"]
        resumed = group(localgce, target_size=3, instance_template="web-v1", update_policy=policy,
                        containers=[web2])
    assert resumed.failed and resumed["changed"], resumed
    msg = resumed["msg"]
    assert "stopped in batch 1 of 2, at VM %s" % vms[1] in msg
    assert "Updated before: %s (refreshed by an earlier run)" % vms[0] in msg
    assert AGENT_ERROR in msg and new["revision"] in msg
    assert "Not reached, still on the old revision: %s" % vms[2] in msg
    assert resumed["rollout"]["updated"] == [vms[0]] and resumed["rollout"]["batches"] == [[vms[1]], [vms[2]]]


def test_wait_step_returns_not_done_and_the_next_run_resumes(localgce):
    # With wait_step, a run waits at most that long, returns done: false with what it waits for, and the next
    # run resumes: the VMs a run refreshed are checked before any other VM is refreshed, never two batches in
    # flight, and the last run restores PROACTIVE.
    template(localgce, "web-v1")
    policy = {"max_surge": "1", "max_unavailable": "1"}
    with FakeAgents(localgce, lag=15) as agents:
        group(localgce, target_size=2, instance_template="web-v1", update_policy=policy, containers=[WEB])
        vms = sorted(members(localgce))
        agents.wait_reported(vms)
        web2 = dict(WEB, image="nginx:1.28")
        new = container_unit.build(web2)
        runs = []
        for _ in range(40):
            r = group(localgce, target_size=2, instance_template="web-v1", update_policy=policy, containers=[web2],
                      wait_step=1)
            assert not r.failed, r.get("msg")
            runs.append(r)
            if r["done"]:
                break
        assert runs[-1]["done"] and runs[-1]["waiting"] == "", [(r["waiting"], r["changed"]) for r in runs][-4:]
        assert not runs[0]["done"] and runs[0]["changed"]
        # What the first run waits for: the first batch's agent report. Each run starts at least one batch, even
        # on a machine so slow that the step ran out before it (else the rollout would never move).
        assert runs[0]["waiting"].startswith("batch 1 of 2 (%s): VM %s" % (vms[0], vms[0])), runs[0]["waiting"]
        waited = [r["waiting"] for r in runs if ": VM " in r["waiting"]]
        assert all("want revision %s running" % new["revision"] in w for w in waited), waited
        assert all("Raise wait_timeout" not in r["waiting"] for r in runs)
        # Each VM was refreshed once; a later run checked what an earlier one refreshed.
        refreshes = [r for r in localgce.requests() if r["path"].endswith("/applyUpdatesToInstances")]
        assert len(refreshes) == 2
        assert any(r["rollout"]["refreshed_before"] for r in runs[1:])
        assert all(containers_of(localgce, vm) == {"web": new["unit"]} for vm in vms)
        assert igm(localgce)["updatePolicy"]["type"] == "PROACTIVE"
        in_flight = [sum(1 for rev, reported in s.values() if rev == (("web", new["revision"]),) and not reported)
                     for s in agents.samples]
        assert max(in_flight) == 1
        localgce.clear_requests()
        again = group(localgce, target_size=2, instance_template="web-v1", update_policy=policy, containers=[web2],
                      wait_step=1)
        assert again["done"] and not again["changed"]
        only_reads(localgce)


def test_wait_step_on_a_new_template_returns_not_done_until_the_group_is_stable(localgce):
    # The group's own rolling update (new VMs) is waited for in steps too: the first run patches and returns
    # done: false, saying what it waits for; later runs change nothing and go on waiting until it is stable.
    template(localgce, "web-v1")
    template(localgce, "web-v2")
    policy = {"max_surge": "1", "max_unavailable": "0"}
    group(localgce, target_size=2, instance_template="web-v1", update_policy=policy)
    localgce.config(operation_delay=1.5)
    runs = []
    for _ in range(60):
        r = group(localgce, target_size=2, instance_template="web-v2", update_policy=policy, wait_step=1)
        assert not r.failed, r.get("msg")
        runs.append(r)
        if r["done"]:
            break
    assert runs[-1]["done"] and runs[-1]["group"]["status"]["version_target_reached"]
    assert not runs[0]["done"] and runs[0]["changed"]
    assert runs[0]["actions"] == ["patch instance group 'web' in us-central1-a (versions %s -> %s)" % (
        [{"instance_template": "projects/test-project/global/instanceTemplates/web-v1"}],
        [{"instance_template": "projects/test-project/global/instanceTemplates/web-v2"}])]
    assert runs[0]["waiting"].startswith("waiting for instance group 'web' in us-central1-a to be stable")
    assert all(not r["changed"] and r["actions"] == [] for r in runs[1:])
    assert sorted(members(localgce).values()) == ["web-v2", "web-v2"]
