"""gcloud's instance-group commands: managed create, describe, list-instances, rolling-action
start-update with a canary, set-autohealing, resize, delete; each read back through the API."""

from __future__ import annotations

from gcloud_cli import PROJECT, ZONE
from google.cloud import compute_v1


def template(lg, name):
    c = lg.client(compute_v1.InstanceTemplatesClient)
    op = c.insert_unary(project=PROJECT, instance_template_resource=compute_v1.InstanceTemplate(
        name=name, properties=compute_v1.InstanceProperties(
            machine_type="e2-small",
            disks=[compute_v1.AttachedDisk(
                boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image="projects/cos-cloud/global/images/family/cos-stable"))],
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")])))
    assert not op.error.errors


def group(lg, name="web"):
    return lg.client(compute_v1.InstanceGroupManagersClient).get(project=PROJECT, zone=ZONE,
                                                                 instance_group_manager=name)


def members(lg, name="web"):
    return list(lg.client(compute_v1.InstanceGroupManagersClient).list_managed_instances(
        project=PROJECT, zone=ZONE, instance_group_manager=name))


def test_create_describe_list_rolling_update_delete(gcloud, lg):
    template(lg, "web-v1")
    template(lg, "web-v2")
    gcloud("instance-groups", "managed", "create", "web", "--template=web-v1", "--size=3", f"--zone={ZONE}")
    igm = group(lg)
    assert (igm.target_size, igm.base_instance_name, igm.status.is_stable) == (3, "web", True)
    described = gcloud("instance-groups", "managed", "describe", "web", f"--zone={ZONE}")
    assert described["status"]["isStable"] and described["targetSize"] == 3
    listed = gcloud("instance-groups", "managed", "list-instances", "web", f"--zone={ZONE}")
    assert sorted(i["instance"] for i in listed) == sorted(m.instance for m in members(lg))
    assert all(i["instanceStatus"] == "RUNNING" and i["currentAction"] == "NONE" for i in listed)

    gcloud("instance-groups", "managed", "rolling-action", "start-update", "web", f"--zone={ZONE}",
           "--version=template=web-v1", "--canary-version=template=web-v2,target-size=1",
           "--max-surge=1", "--max-unavailable=0")
    igm = group(lg)
    assert [v.instance_template.rsplit("/", 1)[-1] for v in igm.versions] == ["web-v1", "web-v2"]
    assert igm.versions[1].target_size.fixed == 1
    assert igm.update_policy.type_ == "PROACTIVE"
    assert (igm.update_policy.max_surge.fixed, igm.update_policy.max_unavailable.fixed) == (1, 0)
    for _ in range(10):
        if group(lg).status.is_stable:
            break
    templates = sorted(m.version.instance_template.rsplit("/", 1)[-1] for m in members(lg))
    assert templates == ["web-v1", "web-v1", "web-v2"]

    gcloud("instance-groups", "managed", "delete", "web", f"--zone={ZONE}", "--quiet")
    assert list(lg.client(compute_v1.InstanceGroupManagersClient).list(project=PROJECT, zone=ZONE)) == []
    assert list(lg.client(compute_v1.InstancesClient).list(project=PROJECT, zone=ZONE)) == []


def test_set_autohealing_and_resize(gcloud, lg):
    template(lg, "app-v1")
    gcloud("health-checks", "create", "http", "app-hc", "--port=8080", "--request-path=/healthz")
    hc = lg.client(compute_v1.HealthChecksClient).get(project=PROJECT, health_check="app-hc")
    assert (hc.type_, hc.http_health_check.port, hc.http_health_check.request_path) == ("HTTP", 8080, "/healthz")
    gcloud("instance-groups", "managed", "create", "app", "--template=app-v1", "--size=1", f"--zone={ZONE}")
    # set-autohealing is in gcloud's beta track in this Cloud SDK (GA has `update --health-check`).
    gcloud.beta("instance-groups", "managed", "set-autohealing", "app", f"--zone={ZONE}",
                "--health-check=app-hc", "--initial-delay=60")
    (policy,) = group(lg, "app").auto_healing_policies
    assert (policy.health_check, policy.initial_delay_sec) == (hc.self_link, 60)
    assert members(lg, "app")[0].instance_health[0].detailed_health_state == "HEALTHY"
    gcloud("instance-groups", "managed", "resize", "app", "--size=3", f"--zone={ZONE}")
    assert group(lg, "app").target_size == 3 and len(members(lg, "app")) == 3
