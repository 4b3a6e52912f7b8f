"""Managed instance groups, health checks and autohealing, through google-cloud-compute."""

from __future__ import annotations

import time

import pytest
import requests
from google.api_core import exceptions
from google.cloud import compute_v1
from lgce_api import COS_FAMILY, PROJECT, ZONE

REGION = "us-central1"
PARAMS = compute_v1.AttachedDiskInitializeParams
IGM = compute_v1.InstanceGroupManager


@pytest.fixture
def c(api):
    srv = api.srv
    ns = type("Clients", (), {})()
    ns.api = api
    ns.srv = srv
    ns.igm = srv.client(compute_v1.InstanceGroupManagersClient)
    ns.rigm = srv.client(compute_v1.RegionInstanceGroupManagersClient)
    ns.groups = srv.client(compute_v1.InstanceGroupsClient)
    ns.templates = srv.client(compute_v1.InstanceTemplatesClient)
    ns.hc = srv.client(compute_v1.HealthChecksClient)
    ns.rhc = srv.client(compute_v1.RegionHealthChecksClient)
    return ns


def template(c, name, role="web"):
    c.api.ok(c.templates.insert_unary(project=PROJECT, instance_template_resource=compute_v1.InstanceTemplate(
        name=name, properties=compute_v1.InstanceProperties(
            machine_type="e2-small",
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key="role", value=role)]),
            disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True, initialize_params=PARAMS(
                source_image=COS_FAMILY)),
                   compute_v1.AttachedDisk(auto_delete=True, device_name="data",
                                           initialize_params=PARAMS(disk_size_gb=10))],
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")]))))
    return f"global/instanceTemplates/{name}"


def health_check(c, name="hc-http", port=8080):
    c.api.ok(c.hc.insert_unary(project=PROJECT, health_check_resource=compute_v1.HealthCheck(
        name=name, type_="HTTP", http_health_check=compute_v1.HTTPHealthCheck(port=port, request_path="/healthz"))))
    return f"global/healthChecks/{name}"


def create_group(c, name="web", size=3, **extra):
    c.api.ok(c.igm.insert_unary(project=PROJECT, zone=ZONE, instance_group_manager_resource=IGM(
        name=name, base_instance_name=name, target_size=size, **extra)))
    return c.igm.get(project=PROJECT, zone=ZONE, instance_group_manager=name)


def managed(c, name="web"):
    return list(c.igm.list_managed_instances(project=PROJECT, zone=ZONE, instance_group_manager=name))


def until_stable(c, name="web", limit=20):
    """Read the group until it is stable; returns the number of reads (each advances one batch)."""
    for i in range(1, limit + 1):
        igm = c.igm.get(project=PROJECT, zone=ZONE, instance_group_manager=name)
        if igm.status.is_stable:
            return i, igm
    raise AssertionError(f"group {name} never became stable")


def test_group_creates_members_from_the_template(c):
    t1 = template(c, "t1")
    igm = create_group(c, instance_template=t1)
    assert igm.target_size == 3 and igm.status.is_stable and igm.status.version_target.is_reached
    assert igm.current_actions.none == 3
    members = managed(c)
    assert len(members) == 3
    for m in members:
        name = m.instance.rsplit("/", 1)[-1]
        assert name.startswith("web-") and len(name) == len("web-") + 4
        assert m.current_action == "NONE" and m.instance_status == "RUNNING"
        assert m.version.instance_template.endswith("/global/instanceTemplates/t1")
        inst = c.api.instances.get(project=PROJECT, zone=ZONE, instance=name)
        md = {i.key: i.value for i in inst.metadata.items}
        assert md["created-by"] == f"projects/{PROJECT}/zones/{ZONE}/instanceGroupManagers/web"
        assert md["role"] == "web"
    listed = c.groups.list_instances(project=PROJECT, zone=ZONE, instance_group="web",
                                     instance_groups_list_instances_request_resource=compute_v1.InstanceGroupsListInstancesRequest(
                                         instance_state="ALL"))
    assert sorted(i.instance for i in listed) == sorted(m.instance for m in members)
    assert c.groups.get(project=PROJECT, zone=ZONE, instance_group="web").size == 3
    # A template in use cannot be deleted.
    with pytest.raises(exceptions.BadRequest) as exc:
        c.templates.delete_unary(project=PROJECT, instance_template="t1")
    assert exc.value.errors[0]["reason"] == "resourceInUseByAnotherResource"
    assert (f"The instance_template resource 'projects/{PROJECT}/global/instanceTemplates/t1' is already being "
            f"used by 'projects/{PROJECT}/zones/{ZONE}/instanceGroupManagers/web'") in str(exc.value)


def test_a_member_deleted_behind_the_groups_back_is_recreated(c):
    create_group(c, size=2, instance_template=template(c, "t1"))
    name = managed(c)[0].instance.rsplit("/", 1)[-1]
    c.api.ok(c.api.instances.delete_unary(project=PROJECT, zone=ZONE, instance=name))
    igm = c.igm.get(project=PROJECT, zone=ZONE, instance_group_manager="web")
    assert igm.target_size == 2
    assert c.api.instances.get(project=PROJECT, zone=ZONE, instance=name).status == "RUNNING"


def test_resize_and_delete_instances(c):
    create_group(c, size=1, instance_template=template(c, "t1"))
    c.api.ok(c.igm.resize_unary(project=PROJECT, zone=ZONE, instance_group_manager="web", size=4))
    assert len(managed(c)) == 4
    victim = managed(c)[0].instance
    c.api.ok(c.igm.delete_instances_unary(
        project=PROJECT, zone=ZONE, instance_group_manager="web",
        instance_group_managers_delete_instances_request_resource=compute_v1.InstanceGroupManagersDeleteInstancesRequest(
            instances=[victim])))
    assert c.igm.get(project=PROJECT, zone=ZONE, instance_group_manager="web").target_size == 3
    assert victim not in [m.instance for m in managed(c)]
    c.api.ok(c.igm.resize_unary(project=PROJECT, zone=ZONE, instance_group_manager="web", size=0))
    assert managed(c) == []
    assert list(c.igm.list_errors(project=PROJECT, zone=ZONE, instance_group_manager="web")) == []


def test_canary_then_a_proactive_rolling_update_in_batches(c):
    t1, t2 = template(c, "t1"), template(c, "t2", role="v2")
    create_group(c, size=4, instance_template=t1)
    before = {m.instance for m in managed(c)}
    # Canary: 25 % of 4 on t2.
    c.api.ok(c.igm.patch_unary(project=PROJECT, zone=ZONE, instance_group_manager="web",
                               instance_group_manager_resource=IGM(
        versions=[compute_v1.InstanceGroupManagerVersion(instance_template=t1, name="v1"),
                  compute_v1.InstanceGroupManagerVersion(instance_template=t2, name="v2",
                                                         target_size=compute_v1.FixedOrPercent(percent=25))],
        update_policy=compute_v1.InstanceGroupManagerUpdatePolicy(
            type_="PROACTIVE", minimal_action="REPLACE", max_surge=compute_v1.FixedOrPercent(fixed=1),
            max_unavailable=compute_v1.FixedOrPercent(fixed=0)))))
    _, igm = until_stable(c)
    assert igm.versions[1].target_size.calculated == 1
    versions = sorted(m.version.name for m in managed(c))
    assert versions == ["v1", "v1", "v1", "v2"]
    # Everything on t2, one member per batch (maxSurge 1 + maxUnavailable 0).
    c.api.ok(c.igm.patch_unary(project=PROJECT, zone=ZONE, instance_group_manager="web",
                               instance_group_manager_resource=IGM(
        versions=[compute_v1.InstanceGroupManagerVersion(instance_template=t2, name="v2")])))
    # Each request to the group runs one step: the members move over one at a time.
    seen = []
    while not seen or seen[-1] < 4:
        seen.append(sum(1 for m in managed(c) if m.version.instance_template.endswith("/t2")))
    assert seen == [3, 4]  # 1 canary + 1 at the patch, then one per step
    _, igm = until_stable(c)
    assert igm.status.version_target.is_reached
    members = managed(c)
    assert all(m.version.instance_template.endswith("/t2") for m in members) and len(members) == 4
    assert not before & {m.instance for m in members}  # SUBSTITUTE: new names
    # t1 is no longer used: it can go now.
    c.api.ok(c.templates.delete_unary(project=PROJECT, instance_template="t1"))


def test_opportunistic_updates_wait_for_apply_updates(c):
    t1, t2 = template(c, "t1"), template(c, "t2")
    create_group(c, size=2, instance_template=t1, update_policy=compute_v1.InstanceGroupManagerUpdatePolicy(
        type_="OPPORTUNISTIC", replacement_method="RECREATE", max_surge=compute_v1.FixedOrPercent(fixed=0)))
    c.api.ok(c.igm.patch_unary(project=PROJECT, zone=ZONE, instance_group_manager="web",
                               instance_group_manager_resource=IGM(
        versions=[compute_v1.InstanceGroupManagerVersion(instance_template=t2)])))
    _, igm = until_stable(c)
    assert not igm.status.version_target.is_reached
    first = managed(c)[0].instance
    c.api.ok(c.igm.apply_updates_to_instances_unary(
        project=PROJECT, zone=ZONE, instance_group_manager="web",
        instance_group_managers_apply_updates_request_resource=compute_v1.InstanceGroupManagersApplyUpdatesRequest(
            instances=[first], minimal_action="REPLACE")))
    by_name = {m.instance: m for m in managed(c)}
    assert by_name[first].version.instance_template.endswith("/t2")  # RECREATE: same name
    assert sum(1 for m in by_name.values() if m.version.instance_template.endswith("/t1")) == 1


def test_all_instances_config_takes_effect_through_an_update(c):
    policy = compute_v1.InstanceGroupManagerUpdatePolicy(type_="PROACTIVE", minimal_action="REFRESH")
    create_group(c, size=2, instance_template=template(c, "t1"), update_policy=policy)
    c.api.ok(c.igm.patch_unary(project=PROJECT, zone=ZONE, instance_group_manager="web",
                               instance_group_manager_resource=IGM(
        all_instances_config=compute_v1.InstanceGroupManagerAllInstancesConfig(
            properties=compute_v1.InstancePropertiesPatch(metadata={"cos-container-app": "spec"},
                                                          labels={"tier": "front"})))))
    _, igm = until_stable(c)
    assert igm.status.all_instances_config.effective
    for m in managed(c):
        inst = c.api.instances.get(project=PROJECT, zone=ZONE, instance=m.instance.rsplit("/", 1)[-1])
        assert {i.key: i.value for i in inst.metadata.items}["cos-container-app"] == "spec"
        assert inst.labels["tier"] == "front"


def test_all_instances_config_is_merge_patched_and_refresh_follows_it(c):
    policy = compute_v1.InstanceGroupManagerUpdatePolicy(type_="PROACTIVE", minimal_action="REFRESH")
    create_group(c, size=1, instance_template=template(c, "t1"), update_policy=policy)

    def patch(metadata):
        c.api.ok(c.igm.patch_unary(project=PROJECT, zone=ZONE, instance_group_manager="web",
                                   instance_group_manager_resource=IGM(
            all_instances_config=compute_v1.InstanceGroupManagerAllInstancesConfig(
                properties=compute_v1.InstancePropertiesPatch(metadata=metadata)))))
        until_stable(c)
        inst = c.api.instances.get(project=PROJECT, zone=ZONE, instance=managed(c)[0].instance.rsplit("/", 1)[-1])
        aic = c.igm.get(project=PROJECT, zone=ZONE, instance_group_manager="web").all_instances_config
        return dict(aic.properties.metadata), {i.key: i.value for i in inst.metadata.items}

    patch({"a": "1", "role": "db"})
    # A patch merges into the map: "a" stays although this patch leaves it out.
    aic, vm = patch({"b": "2"})
    assert aic == {"a": "1", "b": "2", "role": "db"}
    assert vm["a"] == "1" and vm["b"] == "2" and vm["role"] == "db"
    # A null deletes a key (gcloud all-instances-config delete); the VM falls back to the template.
    raw = requests.patch(
        f"{c.srv.url}/compute/v1/projects/{PROJECT}/zones/{ZONE}/instanceGroupManagers/web",
        json={"allInstancesConfig": {"properties": {"metadata": {"a": None, "role": None}}}},
        headers={"Authorization": "Bearer localgce-token"}, timeout=30)
    assert raw.status_code == 200, raw.text
    until_stable(c)
    aic = c.igm.get(project=PROJECT, zone=ZONE, instance_group_manager="web").all_instances_config
    assert dict(aic.properties.metadata) == {"b": "2"}
    inst = c.api.instances.get(project=PROJECT, zone=ZONE, instance=managed(c)[0].instance.rsplit("/", 1)[-1])
    vm = {i.key: i.value for i in inst.metadata.items}
    assert "a" not in vm and vm["role"] == "web" and vm["b"] == "2", vm


def test_autohealing_recreates_an_unhealthy_member_and_keeps_stateful_disks(c):
    hc = health_check(c)
    create_group(c, size=1, instance_template=template(c, "t1"),
                 auto_healing_policies=[compute_v1.InstanceGroupManagerAutoHealingPolicy(health_check=hc,
                                                                                       initial_delay_sec=0)],
                 stateful_policy=compute_v1.StatefulPolicy(preserved_state=compute_v1.StatefulPolicyPreservedState(
                     disks={"data": compute_v1.StatefulPolicyPreservedStateDiskDevice(auto_delete="NEVER")})))
    (member,) = managed(c)
    assert member.instance_health[0].detailed_health_state == "HEALTHY"
    name = member.instance.rsplit("/", 1)[-1]
    first = c.api.instances.get(project=PROJECT, zone=ZONE, instance=name)
    data_disk = next(d.source for d in first.disks if d.device_name == "data")
    r = requests.post(c.srv.url + "/_localgce/instance-health",
                      json={"project": PROJECT, "zone": ZONE, "instance": name, "health": "UNHEALTHY"})
    assert r.status_code == 200, r.text
    until_stable(c)
    again = c.api.instances.get(project=PROJECT, zone=ZONE, instance=name)
    assert again.id != first.id  # recreated, under its own name
    assert next(d.source for d in again.disks if d.device_name == "data") == data_disk
    assert managed(c)[0].instance_health[0].detailed_health_state == "HEALTHY"
    # A health check in use cannot be deleted.
    with pytest.raises(exceptions.BadRequest) as exc:
        c.hc.delete_unary(project=PROJECT, health_check="hc-http")
    assert exc.value.errors[0]["reason"] == "resourceInUseByAnotherResource"
    assert (f"The health_check resource 'projects/{PROJECT}/global/healthChecks/hc-http' is already being used by "
            f"'projects/{PROJECT}/zones/{ZONE}/instanceGroupManagers/") in str(exc.value)


def test_regional_group_spreads_over_its_zones(c):
    t1 = template(c, "t1")
    zones = ["us-central1-a", "us-central1-b"]
    c.api.ok(c.rigm.insert_unary(project=PROJECT, region=REGION, instance_group_manager_resource=IGM(
        name="rweb", base_instance_name="rweb", target_size=4, instance_template=t1,
        distribution_policy=compute_v1.DistributionPolicy(zones=[
            compute_v1.DistributionPolicyZoneConfiguration(zone=f"zones/{z}") for z in zones]))))
    igm = c.rigm.get(project=PROJECT, region=REGION, instance_group_manager="rweb")
    assert igm.status.is_stable and igm.update_policy.max_surge.calculated == 2
    members = list(c.rigm.list_managed_instances(project=PROJECT, region=REGION, instance_group_manager="rweb"))
    assert sorted(m.instance.split("/zones/")[1].split("/")[0] for m in members) == sorted(zones * 2)
    agg = dict(c.igm.aggregated_list(project=PROJECT))
    assert [g.name for g in agg[f"regions/{REGION}"].instance_group_managers] == ["rweb"]
    c.api.ok(c.rigm.delete_unary(project=PROJECT, region=REGION, instance_group_manager="rweb"))
    assert list(c.rigm.list(project=PROJECT, region=REGION)) == []
    for z in zones:
        assert list(c.api.instances.list(project=PROJECT, zone=z)) == []


def test_health_check_types(c):
    for typ, field, cls in (("HTTPS", "https_health_check", compute_v1.HTTPSHealthCheck),
                            ("TCP", "tcp_health_check", compute_v1.TCPHealthCheck)):
        c.api.ok(c.rhc.insert_unary(project=PROJECT, region=REGION, health_check_resource=compute_v1.HealthCheck(
            name=f"hc-{typ.lower()}", type_=typ, **{field: cls(port=443)})))
    got = {h.name: h for h in c.rhc.list(project=PROJECT, region=REGION)}
    assert got["hc-https"].https_health_check.request_path == "/" and got["hc-tcp"].tcp_health_check.port == 443
    with pytest.raises(exceptions.BadRequest):
        c.hc.insert_unary(project=PROJECT, health_check_resource=compute_v1.HealthCheck(name="hc-grpc", type_="GRPC"))


def test_recreate_while_operations_take_time(c):
    create_group(c, size=1, instance_template=template(c, "t1"))
    (member,) = managed(c)
    name = member.instance.rsplit("/", 1)[-1]
    first = c.api.instances.get(project=PROJECT, zone=ZONE, instance=name).id
    c.srv.config(operation_delay=0.3)
    c.api.ok(c.igm.recreate_instances_unary(
        project=PROJECT, zone=ZONE, instance_group_manager="web",
        instance_group_managers_recreate_instances_request_resource=compute_v1.InstanceGroupManagersRecreateInstancesRequest(
            instances=[member.instance])))
    for _ in range(200):
        igm = c.igm.get(project=PROJECT, zone=ZONE, instance_group_manager="web")
        inst = next(iter(c.api.instances.list(project=PROJECT, zone=ZONE)), None)
        if igm.status.is_stable and inst is not None and inst.status == "RUNNING" and inst.id != first:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the member was not recreated")
    assert inst.name == name


def test_a_rolling_wave_creates_its_surge_first_and_never_drops_capacity(c):
    """Compute Engine's updater (maxSurge 1, maxUnavailable 0): a new VM is created above the target
    size first, and an old one goes only once a new one is available (RUNNING), so at least
    targetSize members are available at every moment and at most targetSize + maxUnavailable exist."""
    t1, t2 = template(c, "t1"), template(c, "t2", role="v2")
    policy = compute_v1.InstanceGroupManagerUpdatePolicy(
        type_="PROACTIVE", minimal_action="REPLACE", max_surge=compute_v1.FixedOrPercent(fixed=1),
        max_unavailable=compute_v1.FixedOrPercent(fixed=0))
    create_group(c, size=3, instance_template=t1, update_policy=policy)
    old = {m.instance for m in managed(c)}
    ops = c.srv.client(compute_v1.ZoneOperationsClient)
    known = {op.name for op in ops.list(project=PROJECT, zone=ZONE)}
    c.srv.config(operation_delay=0.3)  # each instance insert or delete takes a while
    c.api.ok(c.igm.patch_unary(project=PROJECT, zone=ZONE, instance_group_manager="web",
                               instance_group_manager_resource=IGM(
        versions=[compute_v1.InstanceGroupManagerVersion(instance_template=t2)])))
    sizes, available = [], []
    for _ in range(600):  # bounded: each step waits on 0.3 s operations
        members = managed(c)
        sizes.append(len(members))
        available.append(sum(1 for m in members if m.instance_status == "RUNNING" and m.current_action == "NONE"))
        igm = c.igm.get(project=PROJECT, zone=ZONE, instance_group_manager="web")
        if igm.status.version_target.is_reached:
            break
        assert not igm.status.is_stable  # an update in progress, waiting or not
        time.sleep(0.05)
    else:
        raise AssertionError("the rolling update never finished")
    assert min(available) >= 3, available  # serving capacity never dropped
    assert max(sizes) == 4, sizes  # one surge VM above the target size, never more
    members = managed(c)
    assert len(members) == 3 and not old & {m.instance for m in members}
    assert all(m.version.instance_template.endswith("/t2") for m in members)
    # The wave's order in the operations: the surge VM's insert comes before the first delete.
    wave = [(op.operation_type, op.target_link.rsplit("/", 1)[-1]) for op in ops.list(project=PROJECT, zone=ZONE)
            if op.name not in known and "/instances/" in op.target_link]
    assert wave[0][0] == "insert" and [t for t, _ in wave].count("insert") == 3, wave
    assert [t for t, _ in wave].count("delete") == 3, wave
