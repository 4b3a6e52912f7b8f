"""Group container rollout: the cos agent path against the group's rolling replace, in one run.

    flock /tmp/gce-cos-vm.lock python bench/group_rollout_bench.py [--size N] [--runs N] [--json] [--trace]

localgce boots real VMs (localgce/vm, root needed); the test web image is pushed to its local
registry in three versions. Each run creates a zonal managed instance group of --size VMs
(bench/playbooks/group_rollout.yml: cos_instance_template with the cos agent's cloud-init and
cos_instance_group, PROACTIVE, max_surge 1, max_unavailable 1) on v1 and waits until every VM
answers, then rolls:
  replace  v1 -> v2 as a new template version: the group replaces its VMs itself
  agent    v2 -> v3 in the group's containers (all-instances configuration, REFRESH in
           batches of max_unavailable; the agent restarts the container, the VM stays)
Each rollout is timed from the start of the playbook until every VM of the group answers
with the new version over HTTP (polled while the playbook runs). Then the same playbook runs
again (no-op) and localgce's request log is counted against the minimum: one list of the
template prefix, one images.getFromFamily (an image family is resolved at every run) and one
GET of the group. --trace prints each rollout's timeline and its breakdown (bench/group_rollout_trace.py):
per agent batch, the refresh, the agent's apply, the old container's stop, the pull and start, the agent's
minimum up time, its report and the module's poll; per replacing VM, its creation, boot and container start;
and the fewest VMs answering at once.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import group_rollout_trace  # noqa: E402
from vm_update_bench import (  # noqa: E402
    DEFAULT_PROJECT,
    DEFAULT_ZONE,
    LocalGCE,
    env,
    finish_playbook,
    registry,
    start_playbook,
    unavailable_reason,
)

PLAYBOOK = os.path.join(HERE, "playbooks", "group_rollout.yml")
# The reads a no-op converge cannot do without: the template prefix's list, the image family, the group.
MINIMUM_NOOP = 3


def group_urls(srv, group):
    """The forwarded port-80 URL of every VM of the group that localgce runs."""
    with urllib.request.urlopen(srv.url + "/_localgce/vms", timeout=60) as resp:
        vms = json.loads(resp.read())["instances"]
    prefix = "%s/%s/%s-" % (DEFAULT_PROJECT, DEFAULT_ZONE, group)
    return {k.rsplit("/", 1)[1]: "http://127.0.0.1:%s/" % v["ports"]["80"]
            for k, v in vms.items() if k.startswith(prefix) and v.get("ports", {}).get("80")}


def answering(urls, want):
    n = 0
    for url in urls.values():
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                n += resp.read().decode() == want
        except OSError:
            pass
    return n


def timed_converge(srv, e, version, trace=None, **extra):
    """Seconds from the playbook's start until every VM (`size`) of the group answer `version`, and in all.

    With ``trace`` (a label), the rollout's timeline (group_rollout_trace) is printed."""
    if trace:
        srv.clear_requests()
        sampler = group_rollout_trace.Sampler(lambda: group_urls(srv, extra["group"]))
        sampler.__enter__()
        wall0 = time.time()
    try:
        return _timed_converge(srv, e, version, **extra)
    finally:
        if trace:
            sampler.__exit__()
            events = group_rollout_trace.timeline(
                wall0, srv.requests(), srv.guest_requests(),
                group_rollout_trace.journals(srv, extra["group"], wall0 - 1), sampler.samples)
            print("\n-- %s: timeline (s from the playbook's start)" % trace)
            for t, src, text in events:
                print("%8.3f  %-14s %s" % (t, src, text))
            if trace == "agent":
                group_rollout_trace.print_rows("agent path, per batch (s)",
                                               group_rollout_trace.agent_breakdown(events, version))
            else:
                patch, rows = group_rollout_trace.replace_breakdown(events, version)
                group_rollout_trace.print_rows("replace path, per new VM (s; the group's patch at %.2f s)"
                                               % (patch or 0), rows)
            fewest, short = sampler.serving(extra["size"], 1)
            print("  VMs answering at once (sampled every 0.1 s): fewest %s of %d; %.1f s with fewer than %d "
                  "(max_unavailable 1)" % (fewest, extra["size"], short, extra["size"] - 1))
            sys.stdout.flush()


def _timed_converge(srv, e, version, **extra):
    want = "web %s\n" % version
    t0 = time.monotonic()
    proc = start_playbook(e, PLAYBOOK, **extra)
    for _ in range(40000):  # bounded by count (about an hour of polls)
        if answering(group_urls(srv, extra["group"]), want) >= extra["size"]:
            break
        if proc.poll() is not None and proc.returncode != 0:
            finish_playbook(proc, PLAYBOOK)
        time.sleep(0.2)
    else:
        raise SystemExit("the group never answered %r" % want)
    elapsed = time.monotonic() - t0
    finish_playbook(proc, PLAYBOOK)
    return elapsed, time.monotonic() - t0


def one_run(srv, e, size, run, image, trace=False):
    group = "rollout%d" % run  # not "bench": the access token is "bench", which Ansible masks in results
    base = {"group": group, "zone": DEFAULT_ZONE, "size": size}
    create, _ = timed_converge(srv, e, "v1", template_image=image("v1"), group_image="", **base)
    replace, replace_done = timed_converge(srv, e, "v2", template_image=image("v2"), group_image="",
                                           trace=trace and "replace", **base)
    agent_vars = dict(base, template_image=image("v2"), group_image=image("v3"))
    with urllib.request.urlopen(srv.url + "/_localgce/vms", timeout=60) as resp:
        before = {k: v["boot_id"] for k, v in json.loads(resp.read())["instances"].items() if group in k}
    agent, agent_done = timed_converge(srv, e, "v3", trace=trace and "agent", **agent_vars)
    with urllib.request.urlopen(srv.url + "/_localgce/vms", timeout=60) as resp:
        after = {k: v["boot_id"] for k, v in json.loads(resp.read())["instances"].items() if group in k}
    boots = sum(1 for k, b in before.items() if after.get(k) == b)
    srv.clear_requests()
    proc = start_playbook(e, PLAYBOOK, **agent_vars)
    finish_playbook(proc, PLAYBOOK)
    log = [r for r in srv.requests() if r["path"].startswith("/compute/v1/")]
    return {"run": run, "size": size, "create_s": create, "replace_s": replace, "replace_done_s": replace_done,
            "agent_s": agent, "agent_done_s": agent_done, "agent_vms_same_boot": boots,
            "noop_requests": len(log), "noop_mutating": sum(1 for r in log if r.get("mutating")),
            "noop_minimum": MINIMUM_NOOP, "noop_paths": ["%s %s" % (r["method"], r["path"]) for r in log]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=3, help="VMs in the group (default 3)")
    ap.add_argument("--runs", type=int, default=1, help="groups rolled, each fresh (default 1)")
    ap.add_argument("--json", action="store_true", help="print the rows and summary as JSON")
    ap.add_argument("--trace", action="store_true",
                    help="print each rollout's timeline: localgce's requests, the VMs' journals, HTTP answers")
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason:
        print(reason)
        return 1
    tmp = tempfile.mkdtemp(prefix="gce-cos-group-bench-")
    srv = LocalGCE.start(vms=True)
    try:
        reg = srv.vms.registry
        for v in ("v1", "v2", "v3"):
            registry.push_web_image(reg, "web", v)
        e = dict(env(tmp), GCE_COS_API_ENDPOINT=srv.url)
        rows = []
        for run in range(1, args.runs + 1):
            row = one_run(srv, e, args.size, run, lambda v: reg.image("web", v), trace=args.trace)
            rows.append(row)
            if not args.json:
                print("run %d: create %.1f s, replace %.1f s (playbook %.1f s), agent %.1f s (playbook %.1f s), "
                      "%d/%d VMs kept their boot, no-op %d requests (%d mutating)"
                      % (run, row["create_s"], row["replace_s"], row["replace_done_s"], row["agent_s"],
                         row["agent_done_s"], row["agent_vms_same_boot"], args.size, row["noop_requests"],
                         row["noop_mutating"]), flush=True)
        med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
        summary = {"size": args.size, "runs": args.runs,
                   "agent_s": {"min": min(r["agent_s"] for r in rows), "median": med("agent_s")},
                   "replace_s": {"min": min(r["replace_s"] for r in rows), "median": med("replace_s")},
                   "ratio_agent_to_replace": med("agent_s") / med("replace_s"),
                   "noop_requests": med("noop_requests"), "noop_minimum": MINIMUM_NOOP,
                   "noop_ratio_to_minimum": med("noop_requests") / MINIMUM_NOOP,
                   "load_average": os.getloadavg()}
        if args.json:
            print(json.dumps({"rows": rows, "summary": summary}, indent=2))
            return 0
        print("\ngroup of %d VMs, max_unavailable 1, playbook start to every VM answering the new image:" % args.size)
        for key, label in (("agent_s", "agent path   (containers, REFRESH)"),
                           ("replace_s", "replace path (new template, REPLACE)")):
            print("  %s  min %7.1f s  median %7.1f s" % (label, summary[key]["min"], summary[key]["median"]))
        print("  ratio agent / replace                 %.2f (goal <= 0.2)" % summary["ratio_agent_to_replace"])
        print("  no-op converge: %g requests, minimum %d (template list, image family, group GET) -> %.2fx"
              % (summary["noop_requests"], MINIMUM_NOOP, summary["noop_ratio_to_minimum"]))
        print("  no-op requests: %s" % ", ".join(rows[-1]["noop_paths"]))
        print("  load average: %.2f %.2f %.2f" % summary["load_average"])
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
