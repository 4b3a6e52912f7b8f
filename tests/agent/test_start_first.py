"""Issue 22, items 3 and 4: start-first updates with a port switch, and automatic rollback in both orders.

Real bash runs the agent (guest.py). docker, systemctl, iptables and iptables-restore are the stand-ins: each
container gets the bridge address the test writes in stub-state/ip/CONTAINER, command probes succeed while
stub-state/exec_ok-CONTAINER exists, and iptables-restore keeps the switch chains in stub-state/iptables.chains and
logs where each transaction sends the ports. The calls log gives the order of what the agent did.
"""

import hashlib
import os
import re

from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit, vm_contract

PORT = 8080
WEB = {"name": "web", "image": "nginx:1.25", "ports": [PORT], "drain": 1,
       "readiness": {"command": ["ready"], "interval": 1, "deadline": 30}}
CHAIN = "cos-sw-" + hashlib.sha256(b"web").hexdigest()[:16]


def build(**changes):
    return container_unit.build(dict(WEB, **changes))


def report(cloud, name="web"):
    return cloud.guest_attributes().get(name) or {}


def shows(cloud, revision, state, name="web"):
    got = report(cloud, name)
    return got if got.get("revision") == revision and got.get("state") == state else None


def stub_file(guest, *path, text=""):
    full = os.path.join(guest.stub_state, *path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


def nat_targets(guest):
    path = os.path.join(guest.stub_state, "iptables.chains", "nat." + CHAIN)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split("--to-destination ")[1] for line in f.read().splitlines() if "--to-destination" in line]


def container(rev):
    return "web-" + rev


def unit(rev):
    return "cos-container-web@%s.service" % rev


def deploy_first(cloud, guest, web, ip="172.17.0.2"):
    stub_file(guest, "ip", container(web["revision"]), text=ip + "\n")
    stub_file(guest, "exec_ok-" + container(web["revision"]))
    cloud.set_containers({"web": web["unit"]})
    guest.env.update(COS_AGENT_WATCH_TIMEOUT="30", COS_AGENT_BUSY_TIMEOUT="1")
    guest.start()
    guest.wait_for(lambda: shows(cloud, web["revision"], "running"), what="the first revision running")
    guest.wait_for(lambda: nat_targets(guest) == ["%s:%d" % (ip, PORT)], what="the ports forwarded to it")


def test_start_first_switches_the_ports_only_once_the_new_revision_is_ready_then_drains_the_old(cloud, guest):
    old, new = build(), build(image="nginx:1.26")
    deploy_first(cloud, guest, old)
    # The jumps to the switch chain: traffic to the VM's addresses (not 127.0.0.1), and its FORWARD openings.
    with open(os.path.join(guest.stub_state, "iptables.rules")) as f:
        jumps = f.read().splitlines()
    assert "-t nat PREROUTING -m addrtype --dst-type LOCAL -j %s" % CHAIN in jumps
    assert "-t nat OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j %s" % CHAIN in jumps
    assert "FORWARD -j %s" % CHAIN in jumps
    guest.clear_calls()

    stub_file(guest, "ip", container(new["revision"]), text="172.17.0.3\n")
    cloud.set_containers({"web": new["unit"]})
    probe = "docker exec %s ready" % container(new["revision"])
    # The new revision runs beside the old one and is probed (not ready yet): the ports stay, the old one runs.
    guest.wait_for(lambda: guest.calls().count(probe) >= 3, what="three probes of the new revision")
    assert shows(cloud, new["revision"], "starting")
    assert nat_targets(guest) == ["172.17.0.2:%d" % PORT]
    assert not [c for c in guest.calls() if c.startswith("iptables-restore")]
    assert not [c for c in guest.lifecycle_calls() if c.startswith("systemctl stop")]
    assert set(guest.containers()) == {container(old["revision"]), container(new["revision"])}
    assert sorted(guest.units()) == sorted([unit(old["revision"]), unit(new["revision"])])

    stub_file(guest, "exec_ok-" + container(new["revision"]))
    guest.wait_for(lambda: shows(cloud, new["revision"], "running"), what="the new revision running")
    stop_old = "systemctl stop -- " + unit(old["revision"])
    guest.wait_for(lambda: stop_old in guest.calls(), what="the old revision stopped after its drain")
    calls = guest.calls()
    start_new = calls.index("systemctl start --no-block -- " + unit(new["revision"]))
    switch = calls.index("iptables-restore -w --noflush: 172.17.0.3:%d" % PORT)
    ready = max(i for i, c in enumerate(calls[:switch]) if c == probe)
    # Started, then ready (its last probe comes before the switch), then the switch, then the old one stops.
    assert start_new < ready < switch < calls.index(stop_old)
    assert nat_targets(guest) == ["172.17.0.3:%d" % PORT]
    assert "pull" not in " ".join(c for c in calls[switch:] if c.startswith("docker"))
    guest.wait_for(lambda: guest.units() == [unit(new["revision"])], what="the old unit removed")
    assert guest.containers() == [container(new["revision"])]
    assert "revision %s is ready and serves" % new["revision"] in guest.log()


def test_start_first_rollback_keeps_the_old_revision_serving_and_reports_why_with_the_new_ones_log(cloud, guest):
    old = build()
    bad = build(image="nginx:broken", readiness={"command": ["ready"], "interval": 1, "deadline": 3})
    deploy_first(cloud, guest, old)
    guest.clear_calls()
    stub_file(guest, "logs", container(bad["revision"]), text="starting\nconfig error: no such table\nexiting\n")
    stub_file(guest, "ip", container(bad["revision"]), text="172.17.0.9\n")
    cloud.set_containers({"web": bad["unit"]})

    ga = guest.wait_for(lambda: shows(cloud, bad["revision"], "failed"), what="the new revision failed")
    assert ga["serving"] == old["revision"]
    assert ga["error"].startswith("rolled back: not ready 3s after it started")
    assert ga["error"].endswith("revision %s serves" % old["revision"])
    assert ga["log"] == "starting\nconfig error: no such table\nexiting"
    # The old revision was never stopped and keeps the ports; the new one is gone.
    assert not [c for c in guest.lifecycle_calls() if unit(old["revision"]) in c]
    assert not [c for c in guest.calls() if c.startswith("iptables-restore")]
    assert nat_targets(guest) == ["172.17.0.2:%d" % PORT]
    assert guest.units() == [unit(old["revision"])]
    assert guest.containers() == [container(old["revision"])]

    # Not tried again until the metadata changes: another key's change applies, and leaves it alone.
    guest.clear_calls()
    cloud.set_containers({"web": bad["unit"]}, other={"unrelated": "x"})
    guest.wait_for(lambda: "no change (1 containers)" in guest.log(), what="an apply with no change")
    assert guest.lifecycle_calls() == []
    assert shows(cloud, bad["revision"], "failed")

    # A new revision in metadata is rolled out again.
    fixed = build(image="nginx:1.27")
    stub_file(guest, "exec_ok-" + container(fixed["revision"]))
    cloud.set_containers({"web": fixed["unit"]})
    ga = guest.wait_for(lambda: shows(cloud, fixed["revision"], "running"), what="the fixed revision running")
    assert "serving" not in ga and "log" not in ga


def test_a_pull_failure_after_a_rollback_is_reported_as_such_without_the_earlier_revisions_log(cloud, guest):
    old = build()
    bad = build(image="nginx:broken", readiness={"command": ["ready"], "interval": 1, "deadline": 3})
    deploy_first(cloud, guest, old)
    stub_file(guest, "logs", container(bad["revision"]), text="config error: no such table\n")
    cloud.set_containers({"web": bad["unit"]})
    guest.wait_for(lambda: shows(cloud, bad["revision"], "failed"), what="the new revision rolled back")

    gone = build(image="registry.invalid/web:2")
    stub_file(guest, "bad_images", text="registry.invalid/web:2\n")
    cloud.set_containers({"web": gone["unit"]})
    ga = guest.wait_for(lambda: shows(cloud, gone["revision"], "failed"), what="the pull failure reported")
    assert ga["error"].startswith("update not applied: docker pull registry.invalid/web:2 failed"), ga
    assert ga["error"].endswith("revision %s keeps running" % old["revision"]), ga
    assert "log" not in ga, ga
    assert nat_targets(guest) == ["172.17.0.2:%d" % PORT]


def test_a_start_first_revision_that_crashes_is_rolled_back_at_its_deadline(cloud, guest):
    old = build()
    deploy_first(cloud, guest, old)
    bad = build(image="nginx:crash", readiness={"command": ["ready"], "interval": 1, "deadline": 2})
    guest.bad_image("nginx:crash")  # its start fails at every try
    guest.clear_calls()
    cloud.set_containers({"web": bad["unit"]})
    ga = guest.wait_for(lambda: shows(cloud, bad["revision"], "failed"), what="the crashing revision failed")
    assert ga["serving"] == old["revision"]
    assert nat_targets(guest) == ["172.17.0.2:%d" % PORT]
    assert not [c for c in guest.lifecycle_calls() if unit(old["revision"]) in c]


def test_a_start_first_revision_in_a_crash_loop_is_rolled_back_before_its_deadline(cloud, guest):
    # systemd restarts the crashing unit (Restart=always); at CRASH_LOOP_RESTARTS restarts the agent rolls it back,
    # as the modules' wait judges a crash loop, rather than waiting out a long deadline.
    old = build()
    deploy_first(cloud, guest, old)
    with open(os.path.join(guest.stub_state, "auto_restart"), "w") as f:
        f.write("0.3")
    bad = build(image="nginx:crash", restart_policy="always",
                readiness={"command": ["ready"], "interval": 1, "deadline": 600})
    stub_file(guest, "crash_images", text="nginx:crash\n")
    cloud.set_containers({"web": bad["unit"]})
    ga = guest.wait_for(lambda: shows(cloud, bad["revision"], "failed"), what="the crash loop rolled back")
    # At least CRASH_LOOP_RESTARTS restarts: systemd may restart it again before the agent's next look.
    seen = re.match(r"rolled back: keeps failing \(systemd restarted it (\d+) times\)", ga["error"])
    assert seen and int(seen.group(1)) >= vm_contract.CRASH_LOOP_RESTARTS, ga
    assert ga["serving"] == old["revision"]
    assert nat_targets(guest) == ["172.17.0.2:%d" % PORT]
    assert guest.units() == [unit(old["revision"])]


def test_stop_first_rollback_starts_the_previous_revision_again_and_does_not_retry(cloud, guest):
    old = build(order="stop-first", drain=None)
    bad = build(order="stop-first", drain=None, image="nginx:1.26",
                readiness={"command": ["ready"], "interval": 1, "deadline": 2})
    assert container_unit.SWITCH_LINE_PREFIX not in old["unit"]
    stub_file(guest, "exec_ok-web")
    cloud.set_containers({"web": old["unit"]})
    guest.env.update(COS_AGENT_WATCH_TIMEOUT="30", COS_AGENT_BUSY_TIMEOUT="1")
    guest.start()
    guest.wait_for(lambda: shows(cloud, old["revision"], "running"), what="the first revision running")
    os.remove(os.path.join(guest.stub_state, "exec_ok-web"))
    stub_file(guest, "logs", "web", text="panic: bad config\n")
    guest.clear_calls()

    cloud.set_containers({"web": bad["unit"]})
    ga = guest.wait_for(lambda: shows(cloud, bad["revision"], "failed"), what="the new revision failed")
    assert ga["serving"] == old["revision"]
    assert ga["error"].startswith("rolled back: not ready 2s after it started")
    assert ga["log"] == "panic: bad config"
    # The previous unit is back and started again.
    assert guest.unit_text("web") == old["unit"]
    restarts = [c for c in guest.lifecycle_calls() if c.startswith("systemctl restart")]
    assert restarts == ["systemctl restart --no-block -- cos-container-web.service"] * 2
    guest.wait_for(lambda: "container web: revision %s" % bad["revision"] in guest.log(), what="the rollback log")

    guest.clear_calls()
    cloud.set_containers({"web": bad["unit"]}, other={"unrelated": "x"})
    guest.wait_for(lambda: "no change (1 containers)" in guest.log(), what="an apply with no change")
    assert guest.lifecycle_calls() == []
    assert guest.unit_text("web") == old["unit"]
    assert shows(cloud, bad["revision"], "failed")


def test_the_log_lines_of_a_report_are_bounded_and_mask_the_containers_secret_values(guest):
    import subprocess

    secret = "s3cr3t-value-42"
    os.makedirs(guest.secrets_dir, exist_ok=True)
    with open(os.path.join(guest.secrets_dir, "web.env"), "w") as f:
        f.write("DB_PASSWORD=%s\nSHORT=ab\n" % secret)
    stub_file(guest, "containers", "web-r1", text="nginx\nsha256:1\nrunning\n")
    lines = ["line %d %s" % (i, "x" * 150) for i in range(8)] + ["connecting with password %s ab" % secret]
    stub_file(guest, "logs", "web-r1", text="\n".join(lines) + "\n")
    code = 'source "$1"; last_log_lines web-r1 web; printf "%s" "$REPLY"'
    out = subprocess.run(["bash", "-c", code, "bash", guest.agent], env=guest.env, capture_output=True, text=True,
                         check=True).stdout
    assert secret not in out
    assert out.endswith("connecting with password ******** ab")  # values under 4 characters are left alone
    assert len(out) == 600 and out.count("\n") <= 4  # the last 5 lines, then the last 600 bytes of them


def test_a_revision_the_metadata_no_longer_wants_is_removed_before_it_serves(cloud, guest):
    old, fixed = build(), build(image="nginx:1.27")
    slow = build(image="nginx:slow", readiness={"command": ["ready"], "interval": 1, "deadline": 600})
    deploy_first(cloud, guest, old)
    cloud.set_containers({"web": slow["unit"]})
    # (The agent's log, not its report: reports wait for the guest-attribute budget.)
    guest.wait_for(lambda: guest.calls().count("docker exec %s ready" % container(slow["revision"])) >= 2,
                   what="the slow revision probed")
    stub_file(guest, "exec_ok-" + container(fixed["revision"]))
    stub_file(guest, "ip", container(fixed["revision"]), text="172.17.0.4\n")
    cloud.set_containers({"web": fixed["unit"]})
    guest.wait_for(lambda: shows(cloud, fixed["revision"], "running"), timeout=120, what="the fixed revision running")
    assert "revision %s is no longer wanted before it was ready" % slow["revision"] in guest.log()
    assert "systemctl stop -- " + unit(slow["revision"]) in guest.calls()
    assert nat_targets(guest) == ["172.17.0.4:%d" % PORT]
    assert [c for c in guest.calls() if c.startswith("iptables-restore")] == [
        "iptables-restore -w --noflush: 172.17.0.2:%d" % PORT, "iptables-restore -w --noflush: 172.17.0.4:%d" % PORT]
    guest.wait_for(lambda: guest.units() == [unit(fixed["revision"])], what="only the fixed revision's unit")


def test_going_back_to_stop_first_stops_the_start_first_revision_and_removes_its_port_switch(cloud, guest):
    old = build()
    host = build(order="stop-first", drain=None, image="nginx:1.26")
    deploy_first(cloud, guest, old)
    stub_file(guest, "exec_ok-web")
    cloud.set_containers({"web": host["unit"]})
    guest.wait_for(lambda: shows(cloud, host["revision"], "running"), what="the stop-first revision running")
    calls = guest.calls()
    assert calls.index("systemctl stop -- " + unit(old["revision"])) < calls.index(
        "systemctl restart --no-block -- cos-container-web.service")
    assert guest.units() == ["cos-container-web.service"]
    assert nat_targets(guest) == []
    with open(os.path.join(guest.stub_state, "iptables.rules")) as f:
        rules = f.read()
    assert CHAIN not in rules and "INPUT -p tcp --dport %d -j ACCEPT" % PORT in rules
