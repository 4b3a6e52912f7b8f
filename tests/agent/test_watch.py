"""The agent's long-running watch loop: long-polls with last_etag, outages, rapid changes.

Each test starts the agent as a subprocess (its own process group, stopped by PID at the
end) and waits, bounded, for what the agent reports through guest attributes.
"""

import os
import subprocess

from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit

WEB = {"name": "web", "image": "nginx:1.25"}
DB = {"name": "db", "image": "postgres:16"}
WATCH_TIMEOUT = 30


def build(spec):
    return container_unit.build(spec)


def shows(cloud, name, revision, state):
    got = cloud.guest_attributes().get(name)
    return bool(got and got["revision"] == revision and got["state"] == state)


def reported(cloud, name, revision, state="running", not_applied=None):
    """All cos-agent attributes once name shows revision in state (else None); with
    not_applied, also once the heartbeat reports an applied ETag other than that one."""
    ga = cloud.guest_attributes()
    got = ga.get(name)
    if not (got and got["revision"] == revision and got["state"] == state and "agent" in ga):
        return None
    if not_applied is not None and ga["agent"]["applied"] == not_applied:
        return None
    return ga


def lifecycle(guest):
    return guest.lifecycle_calls()


def test_watch_applies_changes_through_long_polls(cloud, guest):
    guest.env["COS_AGENT_WATCH_TIMEOUT"] = str(WATCH_TIMEOUT)
    web = build(WEB)
    cloud.set_containers({"web": web["unit"]})
    guest.start()
    ga = guest.wait_for(lambda: reported(cloud, "web", web["revision"]), what="web running")
    first_etag = ga["agent"]["applied"]

    web2 = build(dict(WEB, image="nginx:1.26"))
    cloud.set_containers({"web": web2["unit"]})
    ga = guest.wait_for(lambda: reported(cloud, "web", web2["revision"], not_applied=first_etag),
                        what="web restarted on 1.26")
    second_etag = ga["agent"]["applied"]
    assert second_etag != first_etag
    restarts = [c for c in lifecycle(guest) if "restart" in c]
    assert restarts == ["systemctl restart --no-block -- cos-container-web.service"]

    reads = cloud.attribute_reads()
    # One plain read at start, then only long-polls that carry the ETag last applied.
    assert "wait_for_change" not in reads[0]["query"]
    polls = reads[1:]
    assert polls, reads
    for r in polls:
        assert r["query"]["recursive"] == "true"
        assert r["query"]["wait_for_change"] == "true"
        # The full timeout, or less while reports wait for the guest-attribute budget (they go out
        # when it allows): never more.
        assert 1 <= int(r["query"]["timeout_sec"]) <= WATCH_TIMEOUT
        assert r["query"]["last_etag"] in (first_etag, second_etag)
    assert polls[0]["query"]["last_etag"] == first_etag
    # Each poll carries the ETag of the state applied before it: the first one until the
    # change arrived, the second one after (nothing is read without last_etag in between).
    etags = [r["query"]["last_etag"] for r in polls]
    k = etags.count(first_etag)
    assert k >= 1
    assert etags == [first_etag] * k + [second_etag] * (len(etags) - k)
    # Once every report is out, the agent is back to polls of the full timeout.
    guest.wait_for(lambda: cloud.attribute_reads()[-1]["query"].get("timeout_sec") == str(WATCH_TIMEOUT),
                   what="a poll of the full watch timeout")

def test_watch_loses_nothing_in_a_burst_of_changes(cloud, guest):
    web, db = build(WEB), build(DB)
    cloud.set_containers({"web": web["unit"]})
    guest.start()
    guest.wait_for(lambda: reported(cloud, "web", web["revision"]), what="web running")

    # Three writes back to back: whatever the agent saw in between, it ends on the last.
    versions = [build(dict(WEB, image="nginx:1.%d" % i)) for i in (26, 27, 28)]
    for v in versions[:-1]:
        cloud.set_containers({"web": v["unit"], "db": db["unit"]})
    cloud.set_containers({"web": versions[-1]["unit"]})
    ga = guest.wait_for(lambda: reported(cloud, "web", versions[-1]["revision"]), what="web on the last revision")
    guest.wait_for(lambda: "db" not in cloud.guest_attributes(), what="db removed again")
    assert guest.unit_text("web") == versions[-1]["unit"]
    assert guest.units() == ["cos-container-web.service"]
    assert ga["agent"]["error"] == ""


def test_watch_rides_out_a_metadata_server_outage(cloud, guest):
    web, db = build(WEB), build(DB)
    cloud.set_containers({"web": web["unit"], "db": db["unit"]})
    guest.start()
    guest.wait_for(lambda: reported(cloud, "db", db["revision"]), what="db running")
    guest.wait_for(lambda: reported(cloud, "web", web["revision"]), what="web running")

    cloud.netcut.down()
    guest.wait_for(lambda: "retrying in" in guest.log(), what="the agent to notice the outage")
    guest.clear_calls()
    # The change is made while the guest cannot reach its metadata server.
    web2 = build(dict(WEB, image="nginx:1.26"))
    cloud.set_containers({"web": web2["unit"]})
    guest.wait_for(lambda: guest.log().count("retrying in") >= 3, what="a few retries")
    # Nothing was touched while the server was unreachable.
    assert lifecycle(guest) == []
    assert guest.containers() == ["db", "web"]

    cloud.netcut.up()
    ga = guest.wait_for(lambda: reported(cloud, "web", web2["revision"]), what="the change made during the outage")
    guest.wait_for(lambda: "db" not in cloud.guest_attributes(), what="db removed")
    assert guest.units() == ["cos-container-web.service"]
    assert guest.containers() == ["web"]
    # The heartbeat after the successful apply clears the outage error.
    guest.wait_for(lambda: cloud.guest_attributes()["agent"]["error"] == "", what="the error cleared")
    assert ga["agent"]["applied"]


def test_watch_retries_server_errors_during_apply(cloud, guest):
    web = build(WEB)
    cloud.set_containers({"web": web["unit"]})
    guest.start()
    guest.wait_for(lambda: reported(cloud, "web", web["revision"]), what="web running")

    cloud.fault_guest(r"/instance/attributes/cos-container-db$", 500, count=3)
    db = build(DB)
    cloud.set_containers({"web": web["unit"], "db": db["unit"]})
    guest.wait_for(lambda: reported(cloud, "db", db["revision"]), what="db running after the errors")
    assert len(cloud.netcut.faulted) == 3
    assert guest.log().count("apply incomplete, nothing stopped") == 3
    # web was never restarted by the failed attempts.
    assert [c for c in lifecycle(guest) if "web" in c] == ["systemctl start --no-block -- cos-container-web.service"]


def test_watch_stops_promptly_on_sigterm_during_a_long_poll(cloud, guest):
    guest.env["COS_AGENT_WATCH_TIMEOUT"] = "300"
    cloud.set_containers({})
    proc = guest.start()
    # The heartbeat follows the first apply; the next thing the agent does is the long-poll.
    guest.wait_for(lambda: "agent" in cloud.guest_attributes(), what="the first heartbeat")
    guest.stop()
    assert proc.returncode == 0
    assert "cos-agent: stopping" in guest.log()


def hold_pulls(guest):
    """Make starts asynchronous (like systemd's --no-block) and hold every docker pull."""
    for flag in ("async", "pull_gate"):
        open(os.path.join(guest.stub_state, flag), "w").close()


def release_pulls(guest):
    os.remove(os.path.join(guest.stub_state, "pull_gate"))


def test_watch_reports_pulling_then_running(cloud, guest):
    guest.env.update(COS_AGENT_WATCH_TIMEOUT="30", COS_AGENT_BUSY_TIMEOUT="1")
    hold_pulls(guest)
    web = build(WEB)
    cloud.set_containers({"web": web["unit"]})
    guest.start()
    guest.wait_for(lambda: reported(cloud, "web", web["revision"], state="pulling"), what="web pulling")
    # While a container is not settled the agent keeps long-polling, with the short timeout.
    guest.wait_for(lambda: any(r["query"].get("timeout_sec") == "1" for r in cloud.attribute_reads()),
                   what="a busy long-poll")
    release_pulls(guest)
    ga = guest.wait_for(lambda: reported(cloud, "web", web["revision"]), what="web running")
    assert ga["web"]["digest"].startswith("sha256:")
    polls = [r for r in cloud.attribute_reads() if "wait_for_change" in r["query"]]
    assert polls and all(r["query"]["timeout_sec"] in ("1", "30") for r in polls)


def uptime_usec():
    with open("/proc/uptime", encoding="ascii") as f:
        return int(float(f.read().split()[0]) * 1000000)


def test_watch_reports_running_when_min_up_ends_not_when_the_long_poll_does(cloud, guest):
    """A unit that runs is "starting" until it is COS_AGENT_MIN_UP_SECONDS old; the agent knows
    when that is and reports "running" then, not at the end of the long-poll in between (300 s
    here, longer than the test waits), and never earlier."""
    guest.env.update(COS_AGENT_WATCH_TIMEOUT="300", COS_AGENT_BUSY_TIMEOUT="300", COS_AGENT_MIN_UP_SECONDS="2")
    open(os.path.join(guest.stub_state, "active_enter"), "w").close()
    web = build(WEB)
    cloud.set_containers({"web": web["unit"]})
    guest.start()
    guest.wait_for(lambda: reported(cloud, "web", web["revision"], state="starting"), what="web starting")
    guest.wait_for(lambda: reported(cloud, "web", web["revision"]), what="web running")
    seen = uptime_usec()
    with open(os.path.join(guest.stub_state, "units", "cos-container-web.service"), encoding="utf-8") as f:
        entered = int(dict(line.split("=", 1) for line in f.read().splitlines())["ActiveEnterTimestampMonotonic"])
    assert seen - entered >= 2 * 1000000
    log = guest.log()
    assert log.index("container web: starting") < log.index("container web: running")
    # No long-poll had returned meanwhile: the agent slept until the unit was old enough.
    assert not [r for r in cloud.attribute_reads() if "wait_for_change" in r["query"]]


def test_once_waits_for_containers_to_settle(cloud, guest):
    guest.env["COS_AGENT_SETTLE_SECONDS"] = "300"  # an upper bound only: the test releases the pull
    hold_pulls(guest)
    web = build(WEB)
    cloud.set_containers({"web": web["unit"]})
    proc = subprocess.Popen(["bash", guest.agent, "--once"], env=guest.env, stdout=subprocess.PIPE, text=True)
    try:
        # (no heartbeat yet: --once publishes it after settling)
        guest.wait_for(lambda: shows(cloud, "web", web["revision"], "pulling"), what="web pulling")
        assert proc.poll() is None  # still settling
        release_pulls(guest)
        out, _ = proc.communicate(timeout=60)
    finally:
        if os.path.exists(os.path.join(guest.stub_state, "pull_gate")):
            release_pulls(guest)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "container web: pulling" in out and "container web: running" in out
    assert cloud.guest_attributes()["web"]["state"] == "running"


def test_watch_reports_a_crash_after_the_next_long_poll(cloud, guest):
    """No metadata change at all: the state is refreshed each time a long-poll times out."""
    guest.env["COS_AGENT_WATCH_TIMEOUT"] = "1"
    web = build(WEB)
    cloud.set_containers({"web": web["unit"]})
    guest.start()
    guest.wait_for(lambda: reported(cloud, "web", web["revision"]), what="web running")

    # The container dies and systemd gives up on the unit (as the stand-in records it).
    with open(os.path.join(guest.stub_state, "units", "cos-container-web.service"), "w") as f:
        f.write("ActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainStatus=137\n")
    os.remove(os.path.join(guest.stub_state, "containers", "web"))
    with open(os.path.join(guest.stub_state, "journal", "cos-container-web.service.log"), "a") as f:
        f.write("app: my secret is hunter2\ndocker: Error response from daemon: OOM killed.\n")

    guest.wait_for(lambda: shows(cloud, "web", web["revision"], "failed"), what="web reported failed")
    ga = cloud.guest_attributes()["web"]
    assert ga["error"] == ("unit cos-container-web.service failed: result exit-code, exit status 137: "
                           "docker: Error response from daemon: OOM killed.")
    # Nothing was restarted by the agent: only systemd's own policy restarts units.
    assert [c for c in lifecycle(guest) if "restart" in c] == []


def test_stdin_container_is_created_then_started(cloud, guest):
    sh = build({"name": "sh", "image": "busybox:1.36", "stdin": True, "tty": True})
    cloud.set_containers({"sh": sh["unit"]})
    proc = guest.run_once()
    assert proc.returncode == 0, proc.stdout
    docker = [c.split(" -- ")[0] for c in guest.calls() if c.startswith(("docker create", "docker start"))]
    assert [c.split()[1] for c in docker] == ["create", "start"]
    assert cloud.guest_attributes()["sh"]["state"] == "running"


def auto_restart(guest, restart_sec):
    """Let the systemctl stand-in restart failed units as systemd does (Restart=, RestartSec=)."""
    with open(os.path.join(guest.stub_state, "auto_restart"), "w") as f:
        f.write(str(restart_sec))


def test_watch_reports_a_unit_systemd_restarts_as_restarting_not_failed(cloud, guest):
    guest.env["COS_AGENT_WATCH_TIMEOUT"] = "30"
    auto_restart(guest, 1.5)
    # Two registry hiccups: the first start and the first restart fail, the second restart runs.
    with open(os.path.join(guest.stub_state, "pull_failures"), "w") as f:
        f.write("2\n")
    web = build(WEB)
    cloud.set_containers({"web": web["unit"]})
    guest.start()

    ga = guest.wait_for(lambda: reported(cloud, "web", web["revision"], state="restarting"), what="web restarting")
    assert ga["web"]["restarts"] in (0, 1)
    assert ga["web"]["error"].startswith("unit cos-container-web.service failed: result exit-code, exit status 1: ")
    assert "TLS handshake timeout" in ga["web"]["error"]
    ga = guest.wait_for(lambda: reported(cloud, "web", web["revision"]), timeout=60, what="web running")
    assert ga["web"]["restarts"] == 2 and ga["web"]["error"] == ""
    log = guest.log()
    assert "container web: restarting" in log and "container web: failed" not in log
    # systemd restarted it, not the agent.
    assert [c for c in lifecycle(guest) if "restart" in c] == []


def test_a_unit_systemd_gave_up_on_is_failed(cloud, guest):
    """on-failure with max_retries: after the retries the start limit stops systemd."""
    guest.env["COS_AGENT_WATCH_TIMEOUT"] = "30"
    auto_restart(guest, 0.5)
    bad = {"name": "web", "image": "registry.example/nope/web:9", "restart_policy": "on-failure", "max_retries": 2}
    guest.bad_image(bad["image"])
    web = build(bad)
    cloud.set_containers({"web": web["unit"]})
    guest.start()

    ga = guest.wait_for(lambda: reported(cloud, "web", web["revision"], state="failed"), timeout=60,
                        what="web failed")
    assert ga["web"]["restarts"] == 2
    assert ga["web"]["error"].startswith("unit cos-container-web.service failed: result start-limit-hit")
    assert "manifest for registry.example/nope/web:9 not found" in ga["web"]["error"]
    assert "container web: restarting" in guest.log()


def test_the_stand_in_presents_auto_restart_with_nrestarts(guest):
    """What the agent reads from `systemctl show` for a unit waiting in RestartSec."""
    path = os.path.join(guest.stub_state, "units")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "cos-container-web.service"), "w") as f:
        f.write("ActiveState=activating\nSubState=auto-restart\nResult=exit-code\nExecMainStatus=1\nNRestarts=4\n")
    with open(os.path.join(guest.unit_dir, "cos-container-web.service"), "w") as f:
        f.write(build(WEB)["unit"])
    script = 'source "$1"; container_state web; printf "%s|%s|%s" "$ST_STATE" "$ST_RESTARTS" "$ST_ERROR"'
    out = subprocess.run(["bash", "-c", script, "-", guest.agent], env=guest.env, capture_output=True, text=True,
                         check=True).stdout
    assert out == "restarting|4|unit cos-container-web.service failed: result exit-code, exit status 1"
