"""One VM, duo-1 (vars/duo.yml): two containers, one of them from the private registry, then a
third container that cannot start."""

import json
import urllib.request

import pytest


@pytest.fixture(scope="module")
def duo(e2e, tmp_path_factory):
    run = e2e.deploy(tmp_path_factory.mktemp("deploy"), "duo.yml")
    assert run.rc == 0, run
    return run


def by_name(run):
    # The role polls the agent's reports after the container task (wait: false there).
    result = run.task("Read the cos agent's reports")
    assert result, run
    return {c["name"]: c for c in result["agent"]["entries"]}


def test_two_containers_on_one_vm(e2e, duo):
    containers = by_name(duo)
    assert sorted(containers) == ["api", "front"]
    assert {c["state"] for c in containers.values()} == {"running"}
    # Both answer, each on its own port of the same VM.
    assert e2e.http_body("duo-1", 80) == "web v1\n"
    assert e2e.http_body("duo-1", 8080) == "web v1\n"
    vm = e2e.vm("duo-1")
    names = vm.exec(["docker", "ps", "--format", "{{.Names}}"], check=True).stdout.split()
    assert sorted(names) == ["api", "front"]


def test_private_registry_image_pulled_after_docker_login(e2e, duo):
    reg = e2e.vms.private_registry
    # The registry really refuses anonymous pulls...
    status, _h, _b = reg.request("GET", "/v2/private/api/manifests/v1", auth=False)
    assert status == 401
    # ...and the VM pulled through the role's login unit, password from Secret Manager.
    assert by_name(duo)["api"]["digest"] == e2e.digests["private/api:v1"]
    vm = e2e.vm("duo-1")
    units = vm.exec(["systemctl", "show", "-p", "ActiveState", "--value", "cos-registry-login-0.service"])
    assert units.stdout.strip() == "active"
    config = json.loads(vm.exec(["cat", "/var/lib/cos-agent/docker/config.json"], check=True).stdout)
    assert reg.address in config["auths"]
    # The password is in the VM's docker config only, never in the metadata.
    assert reg.auth[1] not in json.dumps(e2e.instance("duo-1").get("metadata"))
    assert [r for r in e2e.srv.requests() if r["path"].endswith(":access") and r["status"] == 200]


def test_failing_container_reported_with_agent_error(e2e, duo, tmp_path):
    run = e2e.deploy(tmp_path, "duo.yml", e2e_broken=True)
    assert run.rc != 0, run
    assert run.status("Ensure the containers run") == "ok", run
    failed = run.task("Stop when the agent does not run the containers")
    assert run.status("Stop when the agent does not run the containers") == "failed", run
    msg = failed["msg"]
    # systemd keeps restarting it (restart_policy: always): the task fails after a few restarts,
    # not at the first failure and not after the whole wait_timeout.
    assert "container broken on instance 'duo-1' in us-central1-a keeps failing (systemd restarted it " in msg, msg
    assert "as the cos agent reports: unit " in msg, msg
    # The agent's error carries docker's reason: the tag does not exist in the registry.
    assert "web:no-such-tag" in msg and ("not found" in msg or "manifest unknown" in msg), msg
    # The same error is in the guest attribute the agent published.
    inst = e2e.instance("duo-1")
    with urllib.request.urlopen(urllib.request.Request(
            "%s/compute/v1/projects/%s/zones/us-central1-a/instances/duo-1/getGuestAttributes?queryPath=cos-agent/"
            % (e2e.url, inst["selfLink"].split("/")[-5]), headers={"Authorization": "Bearer t"}), timeout=30) as r:
        items = {i["key"]: json.loads(i["value"]) for i in json.loads(r.read())["queryValue"]["items"]}
    assert items["broken"]["state"] != "running" and items["broken"]["restarts"] >= 3, items["broken"]
    entries = run.task("Read the cos agent's reports")["agent"]["entries"]
    # Between two failures systemd's restart runs the unit's pull again: the report then says
    # pulling (or starting), with the restarts counted and the last failure as its error.
    broken = {c["name"]: c for c in entries}["broken"]
    assert broken.get("state") == "restarting" or (
        broken.get("state") in ("pulling", "starting") and broken.get("restarts", 0) >= 3), entries
    assert items["broken"]["error"].startswith("unit cos-container-broken.service failed"), items["broken"]
    assert "web:no-such-tag" in items["broken"]["error"], items["broken"]
    # The other two containers keep running.
    assert items["front"]["state"] == items["api"]["state"] == "running"
    assert e2e.http_body("duo-1", 80) == "web v1\n"
