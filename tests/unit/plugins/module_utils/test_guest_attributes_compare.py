"""guest_attributes.compare: one look at the agent's reports against cos_container's result, for a poll made
elsewhere (the cos_deploy role's until/retries)."""

from ansible_collections.gce.cos.plugins.module_utils.guest_attributes import compare, wait_targets, with_reports

WHAT = "instance 'web-1' in us-central1-a"
ENTRIES = [
    {"name": "web", "action": "update", "revision": "r2", "spec": {"restart_policy": "always"}},
    {"name": "job", "action": "none", "revision": "j1", "spec": {"restart_policy": "never"}},
    {"name": "old", "action": "remove"},
    {"name": "gone", "action": "none"},
]


def report(revision, state, **extra):
    return dict({"revision": revision, "state": state, "image": "nginx", "digest": "sha256:1", "error": "",
                 "restarts": 0}, **extra)


def test_targets_follow_the_module_wait():
    assert wait_targets(ENTRIES) == {"web": {"revision": "r2", "accept_stopped": False},
                                     "job": {"revision": "j1", "accept_stopped": True}, "old": {"removed": True}}


def test_pending_then_done():
    targets = wait_targets(ENTRIES)
    pending = compare({"web": report("r1", "running"), "old": report("o", "running")}, targets, WHAT)
    assert not pending["settled"] and pending["pending"] == ["job", "old", "web"]
    assert pending["message"].startswith("waiting for the cos agent on %s: job: no report yet" % WHAT)
    assert "the cos agent has never reported on this VM" in pending["message"]
    reports = {"web": report("r2", "running"), "job": report("j1", "stopped")}
    done = compare(reports, targets, WHAT)
    assert done["settled"] and done["done"] and done["failed"] is None
    entries = {e["name"]: e for e in with_reports(ENTRIES, reports)}
    assert entries["web"]["state"] == "running" and entries["web"]["digest"] == "sha256:1"
    assert entries["old"]["state"] == "removed" and "state" not in entries["gone"]


def test_a_failure_settles_at_once_with_the_agents_error():
    reports = {"web": report("r2", "failed", error="pull access denied")}
    out = compare(reports, wait_targets(ENTRIES), WHAT)
    assert out["settled"] and not out["done"] and out["failed"] == "web"
    assert out["message"] == ("container web on %s failed at revision r2, as the cos agent reports: pull access "
                              "denied" % WHAT)
    looping = compare({"web": report("r2", "restarting", restarts=3, error="exit 1")}, wait_targets(ENTRIES), WHAT)
    assert looping["failed"] == "web" and "keeps failing (systemd restarted it 3 times)" in looping["message"]


def test_a_rolled_back_update_names_the_serving_revision_and_carries_the_new_ones_log():
    targets = wait_targets(ENTRIES)
    failed = report("r2", "failed", error="rolled back: not ready 60s after it started: GET http://172.17.0.3:80/ "
                    "answered 503, not 200; revision r1 serves", serving="r1", log="boot\npanic: no DATABASE_URL")
    out = compare({"web": failed}, targets, WHAT)
    web = next(c for c in out["containers"] if c["name"] == "web")
    assert (web["serving"], web["log"]) == ("r1", "boot\npanic: no DATABASE_URL")
    assert out["message"].startswith("container web on %s failed at revision r2, as the cos agent reports: "
                                     "rolled back: not ready 60s" % WHAT)
    assert out["message"].endswith("revision r1 serves; the last lines of its log:\nboot\npanic: no DATABASE_URL")
