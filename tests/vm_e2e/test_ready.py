"""Issue 22 on a simulated VM, through playbooks/deploy.yml: a container with an HTTP readiness probe is
reported running only once it answers; an update whose image cannot be pulled leaves the old container
answering (never stopped) and the playbook fails naming the reason."""

import json
import threading
import urllib.error
import urllib.request

import pytest

from conftest import wait_for
from localgce.testing import DEFAULT_ZONE

VM = "ready-1"


def web_report(e2e):
    path = "zones/%s/instances/%s/getGuestAttributes?queryPath=cos-agent/" % (DEFAULT_ZONE, VM)
    try:
        got = e2e.api("GET", path)
    except Exception:  # not booted yet, or guest attributes not enabled yet
        return None
    items = ((got or {}).get("queryValue") or {}).get("items") or []
    value = next((i["value"] for i in items if i["key"] == "web"), None)
    return json.loads(value) if value else None


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


@pytest.fixture(scope="module")
def ready(e2e, tmp_path_factory):
    """The first deploy, run in a thread: the test makes the container ready while the playbook waits."""
    out = {}
    tmp = tmp_path_factory.mktemp("deploy")
    thread = threading.Thread(target=lambda: out.update(run=e2e.deploy(tmp, "ready.yml")), daemon=True)
    thread.start()
    seen = []

    def starting():
        report = web_report(e2e)
        if report:
            seen.append(report)
        return report and report["state"] == "starting" and thread.is_alive()

    wait_for(starting, "the agent reports web starting while the playbook waits", tries=2400,
             message=lambda: json.dumps(seen[-3:]))
    vm = e2e.vm(VM)
    # The container runs and answers, but not on the probe's path: still starting over several probes.
    assert e2e.http_body(VM, 80) == "web v1\n"
    assert status_of(e2e.url_of(VM, 80) + "ready.txt") == 404
    out["probed_before"] = vm.exec(["journalctl", "-u", "cos-agent", "--no-pager"], check=True).stdout
    report = web_report(e2e)
    assert report["state"] == "starting" and thread.is_alive(), report
    vm.exec(["docker", "exec", "web", "sh", "-c", "echo ok > /www/ready.txt"], check=True)
    thread.join(timeout=900)
    assert not thread.is_alive()
    out["seen"] = seen
    return out


def test_a_container_with_an_http_probe_is_running_only_once_it_answers(e2e, ready):
    run = ready["run"]
    assert run.rc == 0, run
    entries = {c["name"]: c for c in run.task("Read the cos agent's reports")["agent"]["entries"]}
    assert entries["web"]["state"] == "running"
    assert all(r["state"] != "running" for r in ready["seen"]), ready["seen"]
    assert "container web: ready (http probe)" not in ready["probed_before"]
    journal = e2e.vm(VM).exec(["journalctl", "-u", "cos-agent", "--no-pager"], check=True).stdout
    assert journal.index("container web: starting") < journal.index("container web: ready (http probe)")
    assert status_of(e2e.url_of(VM, 80) + "ready.txt") == 200


def test_an_update_whose_image_cannot_be_pulled_leaves_the_old_container_answering(e2e, ready, tmp_path):
    vm = e2e.vm(VM)
    started = vm.exec(["docker", "inspect", "--format", "{{.State.StartedAt}}", "web"], check=True).stdout
    run = e2e.deploy(tmp_path, "ready.yml", e2e_web_version="nope")
    assert run.rc != 0, run
    msg = json.dumps([r["result"].get("msg") for r in run.results if r["status"] == "failed"])
    assert "web" in msg and "docker pull %s/web:nope failed" % e2e.extra_vars["e2e_registry"] in msg, msg
    assert "keeps running" in msg, msg
    # The old container never stopped and still answers.
    assert e2e.http_body(VM, 80) == "web v1\n"
    assert vm.exec(["docker", "inspect", "--format", "{{.State.StartedAt}}", "web"], check=True).stdout == started
    assert vm.exec(["systemctl", "is-active", "cos-container-web.service"]).stdout.strip() == "active"
    report = web_report(e2e)
    assert report["state"] == "failed" and report["image"].endswith("/web:nope"), report
