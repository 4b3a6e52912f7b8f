"""COS's logging agent ships the journal and docker's json-file logs (FACTS.md section 10): each
container line must reach it exactly once, while `journalctl -u` still shows the unit's starts and
stops. The simulator's stand-in (localgce/vm/logging_agent.py) counts what would reach Cloud Logging."""

import pytest

from conftest import wait_for

LINES = ("logline on stderr", "serving v1 on port 80")


@pytest.fixture(scope="module")
def deployed(e2e, tmp_path_factory):
    run = e2e.deploy(tmp_path_factory.mktemp("deploy"), "logging.yml")
    assert run.rc == 0, run
    return e2e.vm("logs-1")


def test_each_container_line_reaches_the_logging_agent_once(deployed):
    vm = deployed
    # The json-file log is where the agent reads container output: wait until both lines are shipped.
    wait_for(lambda: all(vm.logging.count(line) >= 1 for line in LINES), "both lines shipped", tries=240,
             message=lambda: [e for e in vm.logging.entries() if "logline" in e["message"]])
    shipped = vm.logging.entries()
    for line in LINES:
        hits = [e for e in shipped if line in e["message"]]
        assert len(hits) == 1, hits  # an attached `docker run` would copy it into the journal as well
        assert hits[0]["source"] == "json-file"
    streams = {e["message"]: e["stream"] for e in shipped if e["source"] == "json-file" and e["message"] in LINES}
    assert streams == {"logline on stderr": "stderr", "serving v1 on port 80": "stdout"}


def test_the_units_journal_still_shows_its_starts_and_stops(deployed):
    vm = deployed
    vm.exec(["systemctl", "restart", "cos-container-web.service"], check=True)
    wait_for(lambda: vm.exec(["systemctl", "is-active", "cos-container-web.service"]).stdout.strip() == "active",
             "cos-container-web active again", tries=240)
    journal = vm.exec(["journalctl", "-u", "cos-container-web.service", "--no-pager", "-o", "cat"],
                      check=True).stdout
    assert journal.count("Started cos-container-web.service") >= 2, journal
    assert "Stopped cos-container-web.service" in journal, journal
    assert "logline on stderr" not in journal, journal
    # The same, as the logging agent shipped them.
    wait_for(lambda: any(e["source"] == "journal" and "Started cos-container-web.service" in e["message"]
                         for e in vm.logging.entries()), "the unit's start shipped", tries=240)
