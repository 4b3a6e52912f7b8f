"""The agent within Compute Engine's guest-attribute budget (10 queries a minute per VM, at most 3
a second), as localgce's metadata server enforces it: over the budget a write is answered 200 and the
attribute it writes is removed. Each test counts the agent's queries in the server's log: never over
the budget, no drop, and the last state always reaches the server."""

import os
import time

from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit

# A crash loop long enough to cross two budget windows (`make test`); tests/vm_e2e/test_budget.py runs
# the long one on a simulated VM.
CRASH_SECONDS = 130


def build(spec):
    return container_unit.build(spec)


def rates(cloud, since=0.0):
    return cloud.lg.guest_attribute_rates(cloud.project, cloud.zone, cloud.name, since)


def assert_within_budget(stats):
    assert stats["drops"] == 0 and stats["over"] == 0, stats
    assert stats["max_per_minute"] <= 10 and stats["max_per_second"] <= 3, stats


def running(cloud, names, revisions):
    ga = cloud.guest_attributes()
    return all(ga.get(n, {}).get("state") == "running" and ga[n]["revision"] == revisions[n] for n in names) \
        and "agent" in ga and ga


def test_a_deploy_of_six_containers_stays_within_the_budget(cloud, guest):
    specs = {"c%d" % i: build({"name": "c%d" % i, "image": "nginx:1.%d" % (20 + i)}) for i in range(6)}
    cloud.set_containers({n: s["unit"] for n, s in specs.items()})
    proc = guest.run_once()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Every report reached the server (run_once waits for the budget rather than losing one).
    ga = running(cloud, specs, {n: s["revision"] for n, s in specs.items()})
    assert ga, cloud.guest_attributes()
    assert ga["agent"]["containers"] == 6 and ga["agent"]["error"] == ""
    stats = rates(cloud)
    assert_within_budget(stats)
    assert stats["writes"] >= 7  # six reports and the heartbeat

    # A second deploy changes two of them. A new agent process does not know what the server holds,
    # so it publishes every report once (seven writes in a few seconds): its budget is kept on disk, so
    # together with the first run's writes it still stays within 10 a minute.
    since = time.time()
    for n in ("c0", "c1"):
        specs[n] = build({"name": n, "image": "nginx:2.%s" % n[1:]})
    cloud.set_containers({n: s["unit"] for n, s in specs.items()})
    assert guest.run_once().returncode == 0
    assert running(cloud, specs, {n: s["revision"] for n, s in specs.items()})
    again = rates(cloud, since)
    assert_within_budget(rates(cloud))
    assert again["writes"] == 7, again


def test_an_idle_agent_writes_nothing_between_heartbeats(cloud, guest):
    guest.env["COS_AGENT_WATCH_TIMEOUT"] = "1"
    web = build({"name": "web", "image": "nginx:1.25"})
    cloud.set_containers({"web": web["unit"]})
    guest.start()
    guest.wait_for(lambda: running(cloud, ["web"], {"web": web["revision"]}), what="web running")
    guest.wait_for(lambda: not [e for e in cloud.lg.guest_requests()[-3:] if e.get("budget")],
                   what="the agent idle (no write among its last requests)")
    since = time.time()
    polls = len(cloud.attribute_reads())
    # Ten long-polls of 1 s come back with nothing new: no report and no heartbeat is written
    # (today's agent wrote the heartbeat after each).
    guest.wait_for(lambda: len(cloud.attribute_reads()) >= polls + 10, what="ten more long-polls")
    assert rates(cloud, since)["writes"] == 0, rates(cloud, since)
    assert_within_budget(rates(cloud))


def test_a_crash_loop_stays_within_the_budget_and_the_last_report_arrives(cloud, guest):
    guest.env["COS_AGENT_WATCH_TIMEOUT"] = "30"
    with open(os.path.join(guest.stub_state, "auto_restart"), "w") as f:
        f.write("0.5")
    bad = {"name": "web", "image": "registry.example/crash/web:1", "restart_policy": "always"}
    guest.bad_image(bad["image"])
    web = build(bad)
    cloud.set_containers({"web": web["unit"]})
    guest.start()
    guest.wait_for(lambda: cloud.guest_attributes().get("web", {}).get("state") == "restarting",
                   what="web crash-looping")
    start = time.time()
    seen = []

    def crashed_long_enough():
        report = cloud.guest_attributes().get("web")
        if report and (not seen or seen[-1] != report):
            seen.append(report)
        return time.time() - start >= CRASH_SECONDS

    # The crash loop itself is the subject: it lasts CRASH_SECONDS, sampled through the API.
    guest.wait_for(crashed_long_enough, timeout=CRASH_SECONDS + 60, what="the crash loop running its course")
    stats = rates(cloud)
    assert_within_budget(stats)
    # The reports kept coming (the restart count grows), one a few seconds at worst: never starved.
    counts = [r["restarts"] for r in seen if r["revision"] == web["revision"]]
    assert len(set(counts)) >= 10 and counts == sorted(counts), counts
    assert all(n >= 3 for n in stats["writes_per_minute"][:-1]), stats
    # The error is there to read throughout.
    assert all(r["error"] for r in seen if r["state"] == "restarting"), seen

    # The fix: the last state (running at the new revision) reaches the server, within the budget.
    good = build({"name": "web", "image": "nginx:1.25"})
    cloud.set_containers({"web": good["unit"]})
    ga = guest.wait_for(lambda: running(cloud, ["web"], {"web": good["revision"]}), timeout=90,
                        what="web running at the fixed revision")
    assert ga["web"]["error"] == "" and ga["web"]["restarts"] == 0
    final = rates(cloud)
    assert_within_budget(final)
    print("crash loop of %ds: %s" % (CRASH_SECONDS, final))


def test_a_reboot_right_after_a_burst_stays_within_the_budget(cloud, guest):
    """A VM reset (or a power cut) seconds after a burst: the new boot's agent finds the last
    boot's query times (with their wall clock) and waits, as Compute Engine still counts them."""
    specs = {"c%d" % i: build({"name": "c%d" % i, "image": "nginx:1.%d" % (20 + i)}) for i in range(6)}
    cloud.set_containers({n: s["unit"] for n, s in specs.items()})
    assert guest.run_once().returncode == 0
    assert running(cloud, specs, {n: s["revision"] for n, s in specs.items()})
    # What the next boot finds: the record written under the previous boot id.
    path = os.path.join(guest.state_dir, "tmp", "ga-sent")
    with open(path) as f:
        lines = f.read().splitlines()
    with open(path, "w") as f:
        f.write("\n".join(["a-previous-boot", *lines[1:]]) + "\n")
    proc = guest.run_once()  # a new agent publishes every report again: seven writes
    assert proc.returncode == 0, proc.stderr
    assert_within_budget(rates(cloud))
    assert running(cloud, specs, {n: s["revision"] for n, s in specs.items()}), (cloud.guest_attributes(), proc.stderr)
