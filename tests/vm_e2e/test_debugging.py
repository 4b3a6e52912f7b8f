"""docs/docsite/rst/guide_debugging.rst, step by step, on a simulated VM: a container that exits at once, then the
serial port (real gcloud), the agent's guest attributes (real gcloud), journalctl -u cos-agent
and docker logs (toolbox is shown in test_hardened.py, with an image the VM can pull)."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import wait_for
from localgce import gcloud as localgce_gcloud
from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE


@pytest.fixture(scope="module")
def broken(e2e, tmp_path_factory):
    run = e2e.deploy(tmp_path_factory.mktemp("deploy"), "broken.yml")
    return run, e2e.vm("broken-1")


@pytest.fixture(scope="module")
def gcloud(e2e, tmp_path_factory):
    tool = shutil.which("gcloud")
    assert tool, "gcloud (the Cloud SDK) is needed on the PATH for this walk-through"
    home = tmp_path_factory.mktemp("gcloud")
    token = home / "token"
    token.write_text("debugging-token\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
    env.update(localgce_gcloud.settings(e2e.url, DEFAULT_PROJECT, str(home / "config"), str(token),
                                        zone=DEFAULT_ZONE, region=DEFAULT_ZONE.rsplit("-", 1)[0]))

    def run(*args):
        proc = subprocess.run([tool, "compute", *args], env=env, capture_output=True, text=True, timeout=300,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    return run


def test_the_deploy_fails_with_the_agents_report(broken):
    run, _vm = broken
    assert run.rc != 0
    msg = json.dumps([r["result"].get("msg") for r in run.results if r["status"] == "failed"])
    print(msg)  # what docs/docsite/rst/guide_debugging.rst quotes
    assert "web" in msg and "restart" in msg, run


def test_serial_port_and_guest_attributes_from_gcloud(broken, gcloud):
    serial = gcloud("instances", "get-serial-port-output", "broken-1", "--zone", DEFAULT_ZONE)
    assert "cloud-init" in serial and "cos-agent" in serial
    # A crash loop passes through "starting" (up less than COS_AGENT_MIN_UP_SECONDS) and
    # "restarting" (systemd's RestartSec wait): sample until the report is caught restarting.
    seen = []

    def web_report():
        attrs = json.loads(gcloud("instances", "get-guest-attributes", "broken-1", "--zone", DEFAULT_ZONE,
                                  "--query-path=cos-agent/", "--format=json"))
        seen.append(json.loads(next(a["value"] for a in attrs if a["key"] == "web")))
        return seen[-1]["state"] in ("restarting", "failed")

    wait_for(web_report, "gcloud shows container web restarting or failed", tries=60, pause=0.5,
             message=lambda: json.dumps(seen[-5:]))
    assert "exit" in seen[-1]["error"], seen[-1]
    assert all(r["state"] != "running" for r in seen), seen


def test_journal_and_docker_logs_on_the_vm(broken):
    _run, vm = broken
    journal = vm.exec(["journalctl", "-u", "cos-agent", "--no-pager"], check=True).stdout
    assert "container web" in journal
    # The unit's journal has its starts and stops, never the container's output (COS's logging agent
    # ships the journal and the json-file logs: a copy there would reach Cloud Logging twice).
    unit = vm.exec(["journalctl", "-u", "cos-container-web", "--no-pager"], check=True).stdout
    assert "Started cos-container-web.service" in unit or "Started gce.cos container web" in unit, unit
    assert "DB_URL is not set" not in unit, unit
    # docker logs needs the container, which each restart removes and creates again: wait for one.

    def logs():
        proc = vm.exec(["docker", "logs", "--tail", "50", "web"])
        return proc.returncode == 0 and "DB_URL is not set" in proc.stdout + proc.stderr

    wait_for(logs, "docker logs web shows the container's last run", tries=240)
