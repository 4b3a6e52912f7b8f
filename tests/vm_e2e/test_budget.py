"""The cos agent within Compute Engine's guest-attribute budget on a simulated VM: at most 10
queries a minute and 3 a second, which localgce's metadata server enforces (a write over it is
answered 200 and the attribute removed). A container crash-loops for GCE_COS_BUDGET_CRASH_SECONDS
(150 s by default, crossing two budget windows; docs/dev/agent.md quotes a 600 s run), then a fixed
deploy must end on the right report. Every other VM test is checked against the same budget by
conftest.py (deploys, the 3-VM group rollout, the chaos suite)."""

import json
import os
import time

from conftest import wait_for
from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE

VM = "budget-1"
CRASH_SECONDS = int(os.environ.get("GCE_COS_BUDGET_CRASH_SECONDS", "150"))


def reports(e2e):
    doc = e2e.api("GET", "zones/%s/instances/%s/getGuestAttributes?queryPath=cos-agent/" % (DEFAULT_ZONE, VM))
    items = ((doc or {}).get("queryValue") or {}).get("items") or []
    return {i["key"]: json.loads(i["value"]) for i in items}


def rates(e2e):
    return e2e.srv.guest_attribute_rates(DEFAULT_PROJECT, DEFAULT_ZONE, VM)


def test_a_crash_loop_stays_within_the_budget_and_the_fixed_deploy_reports_running(e2e, tmp_path):
    run = e2e.deploy(tmp_path, "budget.yml")
    assert run.rc == 0, run
    wait_for(lambda: reports(e2e).get("web", {}).get("state") == "restarting", "web crash-looping", tries=1200,
             pause=0.5)
    start = time.monotonic()
    seen = []

    def crashed_long_enough():
        report = reports(e2e).get("web")
        if report and (not seen or seen[-1] != report):
            seen.append(report)
        return time.monotonic() - start >= CRASH_SECONDS

    # The crash loop is the subject: it runs its course, its reports sampled through the API every 2 s.
    wait_for(crashed_long_enough, "the crash loop running its course", tries=CRASH_SECONDS + 120, pause=2)
    during = rates(e2e)
    assert during["drops"] == 0 and during["over"] == 0, during
    assert during["max_per_minute"] <= 10 and during["max_per_second"] <= 3, during
    # The reports kept coming: the restart count grows, never starved by the budget.
    counts = [r["restarts"] for r in seen]
    assert len(set(counts)) >= CRASH_SECONDS // 30 and counts == sorted(counts), counts
    assert all(r["error"] for r in seen if r["state"] == "restarting"), seen

    # The fix: the deploy waits for the report of the new revision, which must get through.
    fixed = [{"name": "web", "image": "%s/web:v1" % e2e.extra_vars["e2e_registry"], "restart_policy": "always",
              "ports": [80]}]
    run = e2e.deploy(tmp_path, "budget.yml", cos_deploy_containers=fixed, cos_deploy_wait=True)
    assert run.rc == 0, run
    final = reports(e2e)
    assert final["web"]["state"] == "running" and final["web"]["restarts"] == 0 and final["web"]["error"] == ""
    wait_for(lambda: reports(e2e)["agent"]["error"] == "" and reports(e2e)["agent"]["containers"] == 1,
             "the heartbeat of the last apply")
    after = rates(e2e)
    assert after["drops"] == 0 and after["over"] == 0, after
    assert after["max_per_minute"] <= 10 and after["max_per_second"] <= 3, after
    print("guest-attribute budget, crash loop of %ds then a fixed deploy: %s" % (CRASH_SECONDS, json.dumps(after)))
    down = e2e.playbook(tmp_path, "playbooks/teardown.yml", "budget.yml")
    e2e.wait_idle()
    assert down.rc == 0, down
