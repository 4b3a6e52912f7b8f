"""playbooks/deploy-group.yml from nothing against localgce, with stand-ins for the VMs' cos agents
(tests/api/group_fixtures.py): template, health check, firewall rules and group; a re-run that only
reads; check mode that predicts the real run; a new image rolled out in place; bad inputs refused
before any request; teardown that keeps stateful disks unless asked."""

import json
import os
import re
import sys

import pytest
import yaml

from conftest import api_get, mutations, playbook, token_env

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "api"))
from group_fixtures import FakeAgents, containers_of, group_vms

ZONE = "us-central1-a"
TASK_RE = re.compile(r"^TASK \[(?:[^\]:]+ : )?(.+?)\] \*+$")
HEALTH_CHECKER_RANGES = ["130.211.0.0/22", "35.191.0.0/16"]


def group_vars(name, **over):
    spec = {
        "cos_deploy_group_name": name,
        "cos_deploy_group_zone": ZONE,
        "cos_deploy_group_size": 3,
        "cos_deploy_group_instance": {"machine_type": "e2-small"},
        "cos_deploy_group_containers": [{"name": "web", "image": "nginx:1.27", "ports": [80]}],
        "cos_deploy_group_update_policy": {"max_surge": "0", "max_unavailable": "1"},
        "cos_deploy_group_wait_timeout": 120,
    }
    spec.update(over)
    return spec


def write(tmp_path, spec, name="vars.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def changed_tasks(out):
    """The names of the tasks that reported a change, in order."""
    tasks, current = [], None
    for line in out.splitlines():
        m = TASK_RE.match(line)
        if m:
            current = m.group(1)
        elif line.startswith("changed: ") and current not in tasks:
            tasks.append(current)
    return tasks


def templates(lgce, prefix):
    items = (api_get(lgce, "global/instanceTemplates") or {}).get("items") or []
    return sorted(t["name"] for t in items if re.match(r"^%s-[0-9a-f]{10}$" % re.escape(prefix), t["name"]))


def vm_ids(lgce, name):
    items = (api_get(lgce, "zones/%s/instances" % ZONE) or {}).get("items") or []
    return {i["name"]: i["id"] for i in items if i["name"].startswith(name + "-")}


@pytest.fixture
def env(tmp_path, lgce):
    return token_env(tmp_path, lgce)


def test_from_nothing_then_rerun_reads_only_then_new_image_in_place(env, lgce, tmp_path):
    name = "gp-web"
    varfile = write(tmp_path, group_vars(name))
    with FakeAgents(lgce):
        first = playbook(env, "deploy-group", varfile=varfile)
        assert first.proc.returncode == 0, first
        assert changed_tasks(first.out) == [
            "Ensure the instance template, a new version when the machine changes",
            "Ensure the health check",
            "Ensure the firewall rules (the containers' ports; Google's health checkers to the probed port)",
            "Ensure the group, its versions and its containers (rolled out in place through the cos agent)",
        ], first
        (template,) = templates(lgce, name)
        group = api_get(lgce, "zones/%s/instanceGroupManagers/%s" % (ZONE, name))
        assert group["targetSize"] == 3 and group["versions"][0]["instanceTemplate"].endswith("/" + template)
        assert group["autoHealingPolicies"][0]["healthCheck"].endswith("/healthChecks/%s-health" % name)
        aic = group["allInstancesConfig"]["properties"]["metadata"]
        assert "cos-container-web" in aic and "nginx:1.27" in aic["cos-container-web"]
        # The template carries the machine and the cloud-init with the agent, not the containers.
        props = api_get(lgce, "global/instanceTemplates/" + template)["properties"]
        keys = {i["key"] for i in props["metadata"]["items"]}
        assert "user-data" in keys and not [k for k in keys if k.startswith("cos-container-")]
        assert props["tags"]["items"] == [name]
        check = api_get(lgce, "global/healthChecks/%s-health" % name)
        assert check["type"] == "HTTP" and check["httpHealthCheck"]["port"] == 80
        health_rule = api_get(lgce, "global/firewalls/%s-health" % name)
        assert sorted(health_rule["sourceRanges"]) == HEALTH_CHECKER_RANGES
        assert health_rule["allowed"] == [{"IPProtocol": "tcp", "ports": ["80"]}]
        assert health_rule["targetTags"] == [name]
        assert api_get(lgce, "global/firewalls/%s-ports" % name)["sourceRanges"] == ["0.0.0.0/0"]
        vms = group_vms(lgce)
        members = sorted(v for v in vms if v.startswith(name + "-"))
        assert len(members) == 3
        assert all("nginx:1.27" in containers_of(lgce, vm)["web"] for vm in members)
        ids = vm_ids(lgce, name)

        # A re-run changes nothing and sends reads only.
        lgce.clear_requests()
        second = playbook(env, "deploy-group", varfile=varfile)
        assert second.proc.returncode == 0, second
        assert second.changed == 0, second
        assert mutations(lgce) == []
        assert lgce.requests(), "the re-run read nothing"

        # Check mode of a new image predicts exactly the real run's changed tasks, and sends reads only.
        newer = write(tmp_path, group_vars(name, cos_deploy_group_containers=[
            {"name": "web", "image": "nginx:1.28", "ports": [80]}]), "newer.yml")
        lgce.clear_requests()
        check = playbook(env, "deploy-group", "--check", "--diff", varfile=newer)
        assert check.proc.returncode == 0, check
        assert mutations(lgce) == []
        real = playbook(env, "deploy-group", varfile=newer)
        assert real.proc.returncode == 0, real
        assert changed_tasks(check.out) == changed_tasks(real.out) == [
            "Ensure the group, its versions and its containers (rolled out in place through the cos agent)"], real
        assert check.changed == real.changed == 1
        # In place: the same template, the same VMs, the new image in every VM's metadata.
        assert templates(lgce, name) == [template]
        assert vm_ids(lgce, name) == ids
        assert all("nginx:1.28" in containers_of(lgce, vm)["web"] for vm in members)
        sent = [r["path"] for r in mutations(lgce)]
        assert [p for p in sent if p.endswith("/applyUpdatesToInstances")], sent
        assert not [p for p in sent if "instanceTemplates" in p or p.endswith("/instances")], sent

    # Teardown deletes what the playbook made.
    down = playbook(env, "teardown-group", varfile=newer)
    assert down.proc.returncode == 0, down
    assert api_get(lgce, "zones/%s/instanceGroupManagers/%s" % (ZONE, name)) is None
    assert templates(lgce, name) == []
    assert api_get(lgce, "global/healthChecks/%s-health" % name) is None
    assert api_get(lgce, "global/firewalls/%s-health" % name) is None
    assert api_get(lgce, "global/firewalls/%s-ports" % name) is None


BAD_INPUTS = [
    ({"cos_deploy_group_update_policy": {"max_surge": "two", "max_unavailable": "1"}},
     "cos_deploy_group_update_policy.max_surge: 'two'"),
    ({"cos_deploy_group_update_policy": {"max_surge": "0", "max_unavailable": "50%"}},
     "cos_deploy_group_update_policy.max_unavailable"),
    ({"cos_deploy_group_update_policy": {"max_surge": "0", "max_unavailable": "0"}},
     "cos_deploy_group_update_policy"),
    ({"cos_deploy_group_canary": {"target_size": "4"}}, "cos_deploy_group_canary.target_size: '4'"),
    ({"cos_deploy_group_health_check": {"port": 8080}}, "cos_deploy_group_health_check.port: 8080"),
    ({"cos_deploy_group_canary": {"target_size": "1", "template_prefix": "gp-bad"}},
     "cos_deploy_group_canary.template_prefix: 'gp-bad'"),
    ({"cos_deploy_group_template": {"prefix": "gp-bad-0123456789"}, "cos_deploy_group_canary": {
        "template_prefix": "gp-bad"}}, "cos_deploy_group_template.prefix: 'gp-bad-0123456789'"),
    ({"cos_deploy_group_containers": [{"name": "web", "image": "nginx:::", "ports": [80]}]},
     "cos_deploy_group_containers[0].image"),
    ({"cos_deploy_group_size": -1}, "cos_deploy_group_size: -1"),
    ({"cos_deploy_group_zone": "us-central1"}, "cos_deploy_group_zone"),
    ({"cos_deploy_group_instance": {"machine_type": "e2 small"}}, "cos_deploy_group_instance.machine_type"),
    ({"cos_deploy_group_contianers": []}, "cos_deploy_group_contianers: is not a variable"),
    ({"cos_deploy_group_wait_step": -5}, "cos_deploy_group_wait_step: -5 is negative"),
    ({"cos_deploy_group_docker_daemon": {"registry-mirrors": ["https://mirror.example.com"]}},
     "cos_deploy_group_docker_daemon.registry-mirrors: "),
]


@pytest.mark.parametrize("over,message", BAD_INPUTS, ids=[m.split(":")[0] for _, m in BAD_INPUTS])
def test_bad_input_is_refused_before_any_request(over, message, env, lgce, tmp_path):
    varfile = write(tmp_path, group_vars("gp-bad", **over))
    lgce.clear_requests()
    run = playbook(env, "deploy-group", varfile=varfile)
    assert run.proc.returncode != 0, run
    assert message in run.out, run
    assert lgce.requests() == []


def test_teardown_keeps_stateful_disks_unless_asked(env, lgce, tmp_path):
    name = "gp-db"
    spec = group_vars(name, cos_deploy_group_size=2,
                      cos_deploy_group_disks=[{"device_name": "data", "size_gb": 10, "stateful": True}],
                      cos_deploy_group_update_policy={"max_surge": "0", "max_unavailable": "1",
                                                      "replacement_method": "RECREATE"},
                      cos_deploy_group_containers=[{"name": "db", "image": "postgres:16", "ports": [5432],
                                                    "volumes": [{"device_name": "data",
                                                                 "container_path": "/var/lib/postgresql/data"}]}],
                      cos_deploy_group_wait=False)
    varfile = write(tmp_path, spec)
    up = playbook(env, "deploy-group", varfile=varfile)
    assert up.proc.returncode == 0, up
    group = api_get(lgce, "zones/%s/instanceGroupManagers/%s" % (ZONE, name))
    assert group["statefulPolicy"]["preservedState"]["disks"] == {"data": {"autoDelete": "NEVER"}}

    def data_disks():
        items = (api_get(lgce, "zones/%s/disks" % ZONE) or {}).get("items") or []
        return sorted(d["name"] for d in items if d["name"].startswith(name + "-") and not d.get("users")
                      and d["name"] not in vm_ids(lgce, name))

    keep = playbook(env, "teardown-group", varfile=varfile)
    assert keep.proc.returncode == 0, keep
    assert api_get(lgce, "zones/%s/instanceGroupManagers/%s" % (ZONE, name)) is None
    kept = data_disks()
    assert len(kept) == 2, json.dumps(api_get(lgce, "zones/%s/disks" % ZONE))

    # Asked to: the disks of the group's VMs go with the group.
    again = playbook(env, "deploy-group", varfile=varfile)
    assert again.proc.returncode == 0, again
    new_vms = set(vm_ids(lgce, name))
    wipe = playbook(env, "teardown-group", "-e", "cos_deploy_group_delete_stateful_disks=true", varfile=varfile)
    assert wipe.proc.returncode == 0, wipe
    assert not new_vms & set(vm_ids(lgce, name))
    assert data_disks() == kept


def test_a_long_rollout_prints_a_line_per_step_and_finishes(env, lgce, tmp_path):
    # Agents that take 3 s per VM and steps of 1 s: the playbook does not wait in silence. The group task
    # returns after its step, and the wait task prints a retry line per step until every VM reports the new
    # image; each step resumes where the last one stopped, and the play ends green with the final group.
    name = "gp-slow"
    varfile = write(tmp_path, group_vars(name, cos_deploy_group_size=2))
    with FakeAgents(lgce) as agents:
        first = playbook(env, "deploy-group", varfile=varfile)
        assert first.proc.returncode == 0, first
        members = sorted(v for v in group_vms(lgce) if v.startswith(name + "-"))
        agents.wait_reported(members)
    newer = write(tmp_path, group_vars(name, cos_deploy_group_size=2,
                                       cos_deploy_group_wait_step=1, cos_deploy_group_containers=[
                                           {"name": "web", "image": "nginx:1.28", "ports": [80]}]), "newer.yml")
    with FakeAgents(lgce, lag=30):
        rolled = playbook(env, "deploy-group", varfile=newer)
    assert rolled.proc.returncode == 0, rolled
    retries = re.findall(r"FAILED - RETRYING: \[localhost\]: (?:gce.cos.cos_deploy_group : )?Wait for the rollout"
                         r".*\((\d+) retries left\)", rolled.out)
    assert len(retries) >= 1, rolled.out
    assert [int(n) for n in retries] == sorted((int(n) for n in retries), reverse=True)
    assert all("nginx:1.28" in containers_of(lgce, vm)["web"] for vm in members)
    assert api_get(lgce, "zones/%s/instanceGroupManagers/%s" % (ZONE, name))["updatePolicy"]["type"] == "PROACTIVE"
    assert "group %s: 2 VMs" % name in rolled.out and "stable True" in rolled.out
    steps = changed_tasks(rolled.out)
    assert "Ensure the group, its versions and its containers (rolled out in place through the cos agent)" in steps
    assert "Wait for the rollout, one line per step of cos_deploy_group_wait_step seconds" in steps
