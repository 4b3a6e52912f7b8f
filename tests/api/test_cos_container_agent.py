"""cos_container waiting on the REAL cos agent.

The agent is cos_agent.AGENT_SCRIPT run by bash and curl (tests/agent/guest.py: stand-ins
for docker and systemctl only), watching localgce's metadata server for the instance, and
publishing guest attributes there; the module reads them through
instances.getGuestAttributes. Nothing is mocked between the module and the agent.
"""

import json
import os
import re
import sys
import time

import pytest
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit
from module_runner import module_examples, mutating, run_playbook
from test_cos_container import DB, PROJECT, VM, WEB, ZONE, cos, create_instance, metadata

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "agent"))
from guest import Guest

TIMEOUT = 90


def start_agent(lg, root, name=VM):
    guest = Guest(root, lg.guest_url(PROJECT, ZONE, name).rstrip("/"), secretmanager_url=lg.url)
    guest.start()
    return guest


@pytest.fixture
def agent(localgce, tmp_path):
    create_instance(localgce)
    guest = start_agent(localgce, tmp_path / "vm")
    yield guest
    guest.stop()


def reports(lg, name=VM):
    """The agent's guest attributes, read server-side."""
    with lg.app.store.lock:
        attrs = lg.app.store.priv("projects/%s/zones/%s/instances/%s" % (PROJECT, ZONE, name)).get("guest", {})
        return {k: json.loads(v) for k, v in attrs.get("cos-agent", {}).items()}


def test_wait_returns_the_running_state_and_digest(localgce, agent):
    result = cos(localgce, wait_timeout=TIMEOUT, **WEB)

    assert not result.failed, result.get("msg") + agent.log()
    web = result["container"]
    assert web["state"] == "running"
    assert web["image"] == "nginx:1.27"
    assert web["digest"].startswith("sha256:") and len(web["digest"]) == 71
    # What the agent runs is exactly what the module wrote.
    assert agent.unit_text("web") == metadata(localgce)["cos-container-web"] == web["unit"]
    assert reports(localgce)["web"]["revision"] == web["revision"]
    assert agent.containers() == ["web"]

    # A re-run changes nothing, checks the report once, and sends no mutation.
    localgce.clear_requests()
    again = cos(localgce, wait_timeout=TIMEOUT, **WEB)
    assert not again["changed"] and again["container"]["state"] == "running"
    assert mutating(localgce.requests()) == []
    assert [r for r in localgce.requests() if r["path"].endswith("/getGuestAttributes")]


def test_update_restarts_only_the_changed_container_and_remove_waits_for_it_to_go(localgce, agent):
    first = cos(localgce, wait_timeout=TIMEOUT, containers=[WEB, DB])
    assert not first.failed, first.get("msg") + agent.log()
    assert {c["name"]: c["state"] for c in first["containers"]} == {"web": "running", "db": "running"}
    agent.clear_calls()

    db2 = dict(DB, image="postgres:17")
    second = cos(localgce, wait_timeout=TIMEOUT, containers=[WEB, db2])
    assert not second.failed, second.get("msg") + agent.log()
    by_name = {c["name"]: c for c in second["containers"]}
    assert by_name["db"]["action"] == "update" and by_name["db"]["state"] == "running"
    assert by_name["db"]["revision"] == container_unit.build(db2)["revision"] == reports(localgce)["db"]["revision"]
    assert by_name["web"]["action"] == "none" and by_name["web"]["state"] == "running"
    restarted = [c for c in agent.lifecycle_calls() if c.startswith(("systemctl start", "systemctl restart"))]
    assert restarted == ["systemctl restart --no-block -- cos-container-db.service"]

    removed = cos(localgce, wait_timeout=TIMEOUT, name="web", state="absent")
    assert not removed.failed, removed.get("msg") + agent.log()
    assert removed["container"]["state"] == "removed"
    # The wait ended because the agent took the container down and withdrew its report.
    assert "web" not in reports(localgce)
    assert agent.units() == ["cos-container-db.service"]
    assert agent.containers() == ["db"]


def test_a_failing_container_fails_the_task_with_the_agents_error(localgce, agent):
    bad = dict(WEB, image="registry.example/nope/web:9")
    agent.bad_image(bad["image"])

    result = cos(localgce, wait_timeout=TIMEOUT, **bad)

    assert result.failed
    assert result["changed"]  # the spec was written; the agent could not run it
    revision = container_unit.build(bad)["revision"]
    assert "container web on instance 'vm-1' in us-central1-a failed at revision %s" % revision in result["msg"]
    assert "manifest for registry.example/nope/web:9 not found" in result["msg"]
    assert result["containers"][0]["state"] == "failed"

    # Fixing the image converges, and the same task then passes.
    fixed = cos(localgce, wait_timeout=TIMEOUT, **WEB)
    assert not fixed.failed, fixed.get("msg")
    assert fixed["container"]["state"] == "running"


def stub_file(agent, name, text):
    with open(os.path.join(agent.stub_state, name), "w") as f:
        f.write(text)


def test_a_rollout_that_systemd_restarts_once_then_runs_succeeds(localgce, agent):
    # systemd restarts failed units (restart_policy: always); one registry hiccup on the pull.
    stub_file(agent, "auto_restart", "1")
    stub_file(agent, "pull_failures", "1\n")

    result = cos(localgce, wait_timeout=TIMEOUT, **WEB)

    assert not result.failed, result.get("msg") + agent.log()
    assert result["container"]["state"] == "running"
    assert result["container"]["restarts"] == 1
    assert "container web: restarting" in agent.log()


def test_a_crash_loop_fails_the_task_with_the_error_after_a_few_restarts(localgce, agent):
    bad = dict(WEB, image="registry.example/nope/web:9")
    agent.bad_image(bad["image"])
    stub_file(agent, "auto_restart", "0.5")

    started = time.monotonic()
    result = cos(localgce, wait_timeout=TIMEOUT, **bad)

    assert result.failed
    assert time.monotonic() - started < TIMEOUT / 2  # the bound, not the wait_timeout, ended it
    revision = container_unit.build(bad)["revision"]
    # The bound is seen either while systemd waits to restart the unit (3 restarts) or while it
    # pulls once more (more than 3): both carry the pull error.
    assert re.search(r"container web on instance 'vm-1' in us-central1-a keeps failing \(systemd restarted it "
                     r"[3-9] times\) at revision %s, as the cos agent reports: unit cos-container-web.service failed"
                     r"( before this restart)?: " % revision, result["msg"]), result["msg"]
    assert "manifest for registry.example/nope/web:9 not found" in result["msg"]
    web = result["containers"][0]
    assert web["restarts"] >= 3 and web["error"] in result["msg"]
    assert web["state"] == "restarting" or (web["state"] in ("pulling", "starting") and web["restarts"] > 3), web


def test_without_an_agent_the_wait_times_out_with_a_hint(localgce):
    create_instance(localgce)
    result = cos(localgce, wait_timeout=2, **WEB)
    assert result.failed
    assert "timed out after 2s waiting for the cos agent: web: no report yet" in result["msg"]
    assert "the cos agent has never reported on this VM" in result["msg"]
    assert "apply: restart" in result["msg"]
    # The spec is in place for an agent that comes later.
    assert "cos-container-web" in metadata(localgce)


def test_examples_run_through_ansible_playbook(localgce, tmp_path):
    """EXAMPLES, as written, with module_defaults for group/gce.cos.gcp and real agents."""
    localgce_project = PROJECT
    create_instance(localgce, name="web-1")
    create_instance(localgce, name="legacy-1")
    declaration = ("spec:\n  containers:\n  - name: web\n    image: nginx:1.27\n    env:\n    - name: MODE\n"
                   "      value: prod\n  restartPolicy: Always\n")
    create_instance(localgce, name="konlet-1", metadata={"gce-container-declaration": declaration})
    create_instance(localgce, name="konlet-2", metadata={"gce-container-declaration": declaration})
    localgce.set_secret("my-project", "db-password", "s3cret-value")
    guests = [start_agent(localgce, tmp_path / name, name) for name in ("web-1", "konlet-1", "konlet-2")]
    try:
        tasks = module_examples("cos_container")
        for task in tasks:
            # A broken agent must fail the test in minutes, not after the default 300 s.
            task["module_defaults"] = {"gce.cos.cos_container": {"wait_timeout": TIMEOUT}}
        proc = run_playbook(localgce, tasks, tmp_path, project=localgce_project)
        logs = "\n".join(g.log() for g in guests)
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:] + logs
        assert "failed=0" in proc.stdout
        assert "web runs sha256:" in proc.stdout
        assert "the host firewall is opened at every boot as konlet opened it" in proc.stdout
        # The example that narrows the firewall: the migrated container opens only its port.
        narrowed = container_unit.recorded_spec(metadata(localgce, "konlet-2")["cos-container-web"])
        assert narrowed["ports"] == ["80/tcp"]
        # The example's end state: web-1 runs only web (api was removed), konlet-1 moved.
        assert sorted(k for k in metadata(localgce, "web-1") if k.startswith("cos-container-")) == [
            "cos-container-web"]
        konlet_md = metadata(localgce, "konlet-1")
        assert "gce-container-declaration" not in konlet_md and "cos-container-web" in konlet_md
        assert "cos-container-web" in metadata(localgce, "legacy-1")["user-data"]
        # The secret reached the container's env file on the VM, never the metadata.
        assert "s3cret-value" not in json.dumps(metadata(localgce, "web-1"))
        assert "s3cret-value" not in proc.stdout
    finally:
        for g in guests:
            g.stop()
