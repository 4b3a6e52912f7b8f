"""Issue 22, items 3 and 4 on a simulated VM (the strict one: COS's default-DROP host firewall), through
playbooks/deploy.yml: a start-first update under a steady load of HTTP requests to the VM's forwarded port 80 loses
none of them and ends with the new revision answering; an update whose probe never succeeds is rolled back, the old
revision answering every request meanwhile, and the playbook fails naming the reason and the serving revision."""

import json

import pytest

from conftest import wait_for
from localgce.testing import DEFAULT_ZONE
from localgce.vm.load import Load

VM = "sf-1"
# The load (localgce/vm/load.py): sequential GETs of port 80, each on a new connection (so each one is switched by
# the DNAT rules of its moment), bounded in count and in time.
# Item 6's "10 image updates of one VM".
UPDATES_UNDER_LOAD = 10


def web_report(e2e):
    path = "zones/%s/instances/%s/getGuestAttributes?queryPath=cos-agent/" % (DEFAULT_ZONE, VM)
    got = e2e.api("GET", path) or {}
    items = (got.get("queryValue") or {}).get("items") or []
    value = next((i["value"] for i in items if i["key"] == "web"), None)
    return json.loads(value) if value else None


def containers(vm):
    out = vm.exec(["docker", "ps", "--format", "{{.Names}}"], check=True).stdout
    return sorted(out.split())


@pytest.fixture(scope="module")
def first(e2e, tmp_path_factory):
    run = e2e.deploy(tmp_path_factory.mktemp("deploy"), "start_first.yml")
    assert run.rc == 0, run
    assert e2e.http_body(VM, 80) == "web v1\n"
    return run


def test_a_start_first_update_under_load_loses_no_request(e2e, first, tmp_path):
    vm = e2e.vm(VM)
    v1 = web_report(e2e)
    assert v1["state"] == "running", v1
    assert containers(vm) == ["web-" + v1["revision"]]
    with Load(e2e.url_of(VM, 80)) as load:
        run = e2e.deploy(tmp_path, "start_first.yml", e2e_web_version="v2")
        assert run.rc == 0, run
        # The playbook's wait ended once v2 was ready and serving: from then on only v2 answers.
        wait_for(lambda: load.answers[-1:] == ["web v2\n"], "v2 answering the load")
        seen = len(load.answers)
        wait_for(lambda: len(load.answers) >= seen + 20, "more answers")
    assert load.failures == [], load.failures[:5]
    assert set(load.answers) == {"web v1\n", "web v2\n"}
    # One switch: v1 until it, v2 after it.
    first_v2 = load.answers.index("web v2\n")
    assert set(load.answers[first_v2:]) == {"web v2\n"}
    v2 = web_report(e2e)
    assert v2["state"] == "running" and v2["image"].endswith("/web:v2"), v2
    # The old revision drained, then stopped; the port is forwarded to the new one only (IPv4, a DNAT rule).
    wait_for(lambda: containers(vm) == ["web-" + v2["revision"]], "the old revision stopped after its drain")
    nat = vm.exec(["iptables", "-w", "-t", "nat", "-S"], check=True).stdout
    ip = vm.exec(["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  "web-" + v2["revision"]], check=True).stdout.strip()
    assert [line for line in nat.splitlines() if "DNAT" in line and "--dport 80 " in line] == [
        line for line in nat.splitlines() if "--to-destination %s:80" % ip in line]


def test_a_revision_that_never_becomes_ready_is_rolled_back_while_the_old_one_answers(e2e, first, tmp_path):
    vm = e2e.vm(VM)
    serving = web_report(e2e)
    assert serving["state"] == "running" and serving["image"].endswith("/web:v2"), serving
    # v1's image with a probe path it never serves: any "web v1" answer would be the new container's.
    with Load(e2e.url_of(VM, 80)) as load:
        run = e2e.deploy(tmp_path, "start_first.yml", e2e_web_version="v1", e2e_ready_path="/never.txt",
                         e2e_deadline=15)
    assert run.rc != 0, run
    assert load.failures == [], load.failures[:5]
    assert set(load.answers) == {"web v2\n"}
    msg = json.dumps([r["result"].get("msg") for r in run.results if r["status"] == "failed"])
    assert "container web on" in msg and "rolled back: not ready 15s after it started" in msg, msg
    assert "answered 404, not 200" in msg, msg
    assert "revision %s serves" % serving["revision"] in msg, msg
    report = web_report(e2e)
    assert report["state"] == "failed" and report["serving"] == serving["revision"], report
    # The old revision was never stopped; the new one is gone.
    assert containers(vm) == ["web-" + serving["revision"]]
    assert e2e.http_body(VM, 80) == "web v2\n"


def web(e2e, version, deadline=120, **more):
    """start_first.yml's container (as cos_deploy_containers), with `more` laid over it."""
    spec = {"name": "web", "image": "%s/web:%s" % (e2e.extra_vars["e2e_registry"], version), "ports": [80],
            "drain": 2, "readiness": {"type": "http", "port": 80, "path": "/", "interval": 1, "deadline": deadline}}
    spec.update(more)
    return [spec]


def failed_msg(run):
    return json.dumps([r["result"].get("msg") for r in run.results if r["status"] == "failed"])


def test_ten_updates_under_load_lose_no_request(e2e, first, tmp_path):
    # What answers (after a rollback the report names the failed revision's image, not the serving one's).
    serving = e2e.http_body(VM, 80).split()[-1]
    # Each update changes the version (v1 <-> v2), starting from the other one than the serving one.
    versions = (["v1", "v2"] if serving == "v2" else ["v2", "v1"]) * (UPDATES_UNDER_LOAD // 2)
    with Load(e2e.url_of(VM, 80)) as load:
        for number, version in enumerate(versions, 1):
            run = e2e.deploy(tmp_path, "start_first.yml", cos_deploy_containers=web(e2e, version))
            assert run.rc == 0, (number, run)
            wait_for(lambda version=version: load.answers[-1:] == ["web %s\n" % version],
                     "update %d: %s answering the load" % (number, version))
    assert load.failures == [], load.failures[:5]
    # Each update switched the answers once, for good.
    switches = sum(1 for i in range(1, len(load.answers)) if load.answers[i] != load.answers[i - 1])
    assert switches == UPDATES_UNDER_LOAD, switches
    assert web_report(e2e)["state"] == "running"


def test_a_broken_image_a_registry_down_and_a_missing_secret_leave_the_old_revision_serving(e2e, first, tmp_path):
    serving = web_report(e2e)
    assert serving["state"] == "running", serving
    version = serving["image"].rsplit(":", 1)[1]
    other = "v1" if version == "v2" else "v2"
    body = "web %s\n" % version
    cases = {
        # A new revision that exits at once (the image's entrypoint replaced by a failing command).
        "broken": dict(command=["sh", "-c", "echo broken build >&2; exit 3"], deadline=30),
        # Nothing listens on the registry's port: the pull fails while the old revision serves.
        "registry down": dict(image="127.0.0.1:9/web:%s" % other),
        # A Secret Manager reference that does not exist: the fetch fails while the old revision serves.
        "secret": dict(secret_env={"TOKEN": "sm://test-project/no-such-secret"}),
    }
    want = {"broken": ["rolled back", "broken build"],
            "registry down": ["docker pull 127.0.0.1:9/web:", "keeps running"],
            "secret": ["no-such-secret", "keeps running"]}
    with Load(e2e.url_of(VM, 80)) as load:
        for case, more in cases.items():
            deadline = more.pop("deadline", 120)
            run = e2e.deploy(tmp_path, "start_first.yml", cos_deploy_containers=web(e2e, other, deadline, **more))
            assert run.rc != 0, (case, run)
            msg = failed_msg(run)
            assert "container web on" in msg and all(w in msg for w in want[case]), (case, msg)
            report = web_report(e2e)
            assert report["state"] == "failed", (case, report)
            assert containers(e2e.vm(VM)) == ["web-" + serving["revision"]], case
    assert load.failures == [], load.failures[:5]
    assert set(load.answers) == {body}
    # The old revision still serves, and a good update goes through afterwards.
    run = e2e.deploy(tmp_path, "start_first.yml", cos_deploy_containers=web(e2e, other))
    assert run.rc == 0, run
    assert e2e.http_body(VM, 80, expect="web %s\n" % other) == "web %s\n" % other
