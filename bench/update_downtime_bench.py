"""Downtime of a container update under load: the stop/start path, the in-place restart and start-first, in one run.

    flock /tmp/gce-cos-vm.lock python bench/update_downtime_bench.py [--runs N] [--pad-mb MB] [--interval S] [--json]

localgce boots real VMs (localgce/vm, root needed). The test web image is pushed to its local registry as
web:v1 and web:v2, each with a layer of --pad-mb MB of random data (40 by default), so that a pull takes
measurable time; before every update the VM's copy of the image it updates to is removed (`docker image rm`),
so every update pulls it. Both VMs run the same container (port 80, an HTTP readiness probe on / every
--interval seconds), on e2-small:
  restart      a plain #cloud-config VM whose container is in its user-data: cos_container apply: restart stops
               and starts the VM, as `gcloud compute instances update-container` does
  stop-first   the agent VM (playbooks/deploy.yml), order: stop-first: today's in-place restart (pull first,
               then the old container stops and the new one starts)
  start-first  the same agent VM, order: start-first: the new revision starts beside the old one on docker's
               bridge network, the agent moves port 80 to it once its probe answers, the old one drains
               (--drain seconds), then stops
The agent VM runs the stop-first updates first, then one update that only changes the order (not measured),
then the start-first updates. Each update (v1 -> v2 -> v1 ...) runs `ansible-playbook` with one cos_container
task, while a steady load (localgce/vm/load.py: sequential GETs of the VM's forwarded port 80 on 127.0.0.1,
each on a new connection, a pause of --pause s, bounded in count and time) runs from before the playbook until
the update has settled (the playbook done, one container left on the VM, and 25 more answers). For each it
reports the failed requests, the longest time without an answer, and the time from the playbook's start to
the new revision serving all traffic (the first answer from which every request was answered by it), and the
playbook's own duration. The summary gives the medians of --runs updates and the ratios against the in-place
restart measured in the same run (goals of issue 22: 0 failed requests for start-first, its time at most 1.2
times the in-place restart's).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from vm_update_bench import (  # noqa: E402
    DEFAULT_PROJECT,
    DEFAULT_ZONE,
    LocalGCE,
    env,
    finish_playbook,
    playbook,
    registry,
    start_playbook,
    unavailable_reason,
    vm_info,
    wait_body,
)

from localgce.vm.load import Load  # noqa: E402
from localgce.vm.machine import VMError  # noqa: E402

PATHS = ("restart", "stop-first", "start-first")
LABELS = {"restart": "stop/start path (apply: restart)", "stop-first": "in-place restart (stop-first)",
          "start-first": "start-first (the new path)"}
VMS = {"restart": "bench-restart", "stop-first": "bench-agent", "start-first": "bench-agent"}
# The load of one update: enough for the slowest path (a VM's stop and start) many times over.
MAX_REQUESTS = 20000
MAX_SECONDS = 600
TAIL_ANSWERS = 25

SETUP_RESTART = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - gce.cos.cos_instance:
        name: bench-restart
        zone: %s
        machine_type: e2-small
        user_data: "#cloud-config\\nwrite_files: []\\n"
""" % DEFAULT_ZONE

UPDATE = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - gce.cos.cos_container:
        instance: "{{ instance }}"
        zone: %s
        apply: "{{ apply }}"
        name: web
        image: "{{ image }}"
        ports: [80]
        readiness: "{{ readiness }}"
        order: "{{ order }}"
        drain: "{{ drain | default(omit) }}"
        wait_timeout: 600
""" % DEFAULT_ZONE


def readiness(args):
    return {"type": "http", "port": 80, "path": "/", "interval": args.interval, "deadline": 120}


def deploy_vars(args, image):
    return {
        "cos_deploy_instance": {"name": "bench-agent", "zone": DEFAULT_ZONE, "machine_type": "e2-small"},
        "cos_deploy_containers": [{"name": "web", "image": image, "ports": [80], "readiness": readiness(args),
                                   "order": "stop-first"}],
        "cos_deploy_wait_timeout": 600,
    }


def update_vars(args, path, image):
    extra = {"instance": VMS[path], "apply": "restart" if path == "restart" else "agent", "image": image,
             "readiness": readiness(args), "order": "start-first" if path == "start-first" else "stop-first"}
    if path == "start-first":
        extra["drain"] = args.drain
    return extra


def the_vm(srv, name):
    links = [k for k in srv.vms.backend.workers if k.endswith("/instances/" + name)]
    vm = srv.vms.backend.vm(links[0]) if links else None
    if vm is None or not vm.pid1:
        raise SystemExit("VM %s is not running" % name)
    return vm


def containers(vm):
    """(name, image) of each running container of the VM."""
    out = vm.exec(["docker", "ps", "--format", "{{.Names}} {{.Image}}"], check=True).stdout
    return sorted(tuple(line.split(" ", 1)) for line in out.splitlines() if line.strip())


def forget_image(vm, image):
    """Remove the VM's copy of ``image`` (not running), so that the update pulls it all again."""
    if vm.exec(["docker", "image", "inspect", image]).returncode != 0:
        return
    vm.exec(["docker", "container", "prune", "-f"])  # stopped containers of it, if any
    rm = vm.exec(["docker", "image", "rm", image])
    if vm.exec(["docker", "image", "inspect", image]).returncode == 0:
        raise SystemExit("cannot remove %s on the VM, so the update would not pull it: %s"
                         % (image, (rm.stdout + rm.stderr).strip()))


def settle(srv, name, load, image, want, tries=2400):
    """Wait (bounded by a count of polls) until the VM runs one container, of ``image``, and the load has
    TAIL_ANSWERS more answers, the last of them ``want``."""
    running = None
    for _ in range(tries):
        if not load.thread.is_alive():
            break
        try:
            running = containers(the_vm(srv, name))
        except (SystemExit, OSError, VMError, subprocess.SubprocessError):
            running = None  # the VM is still booting
        if running and len(running) == 1 and running[0][1] == image and load.answers[-1:] == [want]:
            seen = len(load.answers)
            for _ in range(tries):
                if len(load.answers) >= seen + TAIL_ANSWERS or not load.thread.is_alive():
                    return
                time.sleep(0.05)
            break
        time.sleep(0.25)
    raise SystemExit("%s never settled on %s (containers %s, last answers %s, failures %d, load bounded: %s)"
                     % (name, image, running, load.answers[-3:], len(load.failures), load.bounded))


def measure(srv, e, update, args, path, image, old, new):
    """One update of VMS[path] to ``image`` under load: its figures."""
    name = VMS[path]
    url = "http://127.0.0.1:%s/" % vm_info(srv, name)["ports"]["80"]  # stable across stop/start
    wait_body(url, old)
    forget_image(the_vm(srv, name), image)
    boot_before = vm_info(srv, name)["boot_id"]
    load = Load(url, max_requests=MAX_REQUESTS, max_seconds=MAX_SECONDS, pause=args.pause, timeout=args.timeout)
    load.start()
    if load.failures:
        load.stop()
        raise SystemExit("%s does not answer before the update: %s" % (url, load.failures[:3]))
    t0, wall0 = time.monotonic(), time.time()
    try:
        proc = start_playbook(e, update, **update_vars(args, path, image))
        finish_playbook(proc, update)
        done = time.monotonic() - t0
        settle(srv, name, load, image, new)
    finally:
        load.stop()
    if load.bounded:
        raise SystemExit("the load reached its bound (%d requests, %d s) before %s settled"
                         % (MAX_REQUESTS, MAX_SECONDS, name))
    row = load.window(t0).summary(new)
    if row["all_new_s"] is None:
        raise SystemExit("%s: the new revision does not answer every request at the end: %s" % (name, row))
    # When the agent's reports of the container reached the metadata server (budget: 8 writes a minute).
    key = "/_localgce/guest/%s/%s/%s/" % (DEFAULT_PROJECT, DEFAULT_ZONE, name)
    writes = [g for g in srv.guest_requests() if g["path"].startswith(key) and g.get("budget")
              and g["method"] != "GET"]
    row["reports_s"] = [round(g["time"] - wall0, 2) for g in writes if g["time"] >= wall0
                        and g["path"].endswith("/web") and g["method"] == "PUT"]
    row["writes_60s_before"] = sum(1 for g in writes if wall0 - 60 <= g["time"] < wall0)
    row.update(path=path, image=image, playbook_s=done,
               rebooted=vm_info(srv, name)["boot_id"] != boot_before)
    return row


def median(rows, path, key):
    return statistics.median(r[key] for r in rows if r["path"] == path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="updates per path (default 3)")
    ap.add_argument("--pad-mb", type=int, default=40, help="MB of random data in each image (default 40)")
    ap.add_argument("--interval", type=int, default=1, help="the readiness probe's interval, s (default 1)")
    ap.add_argument("--drain", type=int, default=2, help="start-first's drain, s (default 2)")
    ap.add_argument("--pause", type=float, default=0.02, help="the load's pause between requests, s (default 0.02)")
    ap.add_argument("--timeout", type=float, default=5, help="the load's timeout of a request, s (default 5)")
    ap.add_argument("--json", action="store_true", help="print the rows and the summary as JSON")
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason:
        print(reason)
        return 1
    load_before = os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="gce-cos-downtime-bench-")
    srv = LocalGCE.start(vms=True)
    try:
        reg = srv.vms.registry
        for v in ("v1", "v2"):
            registry.push_web_image(reg, "web", v, pad_bytes=args.pad_mb << 20)
        e = dict(env(tmp), GCE_COS_API_ENDPOINT=srv.url)
        image = lambda v: reg.image("web", v)  # noqa: E731
        body = lambda v: "web %s\n" % v  # noqa: E731
        setup_restart, update = os.path.join(tmp, "setup-restart.yml"), os.path.join(tmp, "update.yml")
        vars_file = os.path.join(tmp, "agent-vars.json")
        with open(setup_restart, "w") as f:
            f.write(SETUP_RESTART)
        with open(update, "w") as f:
            f.write(UPDATE)
        with open(vars_file, "w") as f:
            json.dump(deploy_vars(args, image("v1")), f)
        print("setting up bench-agent (playbooks/deploy.yml) and bench-restart (apply: restart), web:v1 and web:v2 "
              "with %d MB of random data each ..." % args.pad_mb, flush=True)
        playbook(e, "playbooks/deploy.yml", vars_file)
        playbook(e, setup_restart)
        playbook(e, update, **update_vars(args, "restart", image("v1")))
        srv.vms.backend.wait_idle()
        for name in ("bench-agent", "bench-restart"):
            wait_body("http://127.0.0.1:%s/" % vm_info(srv, name)["ports"]["80"], body("v1"))
        version = {"bench-agent": "v1", "bench-restart": "v1"}
        rows = []

        def update_once(run, path):
            name = VMS[path]
            old = version[name]
            new = "v2" if old == "v1" else "v1"
            row = measure(srv, e, update, args, path, image(new), body(old), body(new))
            version[name] = new
            row["run"] = run
            rows.append(row)
            print("run %d %-11s -> %s: %3d failed of %5d requests, longest gap %6.2f s, all answers new after "
                  "%6.2f s, playbook %6.2f s (VM rebooted: %s; reports at %s s, %d reports in the minute before)"
                  % (run, path, new, row["failed"], row["requests"], row["longest_gap_s"], row["all_new_s"],
                     row["playbook_s"], "yes" if row["rebooted"] else "no",
                     ", ".join("%.1f" % t for t in row["reports_s"]) or "-", row["writes_60s_before"]), flush=True)

        for run in range(1, args.runs + 1):
            update_once(run, "restart")
            update_once(run, "stop-first")
        print("bench-agent: order stop-first -> start-first, same image (not measured) ...", flush=True)
        playbook(e, update, **update_vars(args, "start-first", image(version["bench-agent"])))
        srv.vms.backend.wait_idle()
        for run in range(1, args.runs + 1):
            update_once(run, "start-first")
        summary = {p: {k: median(rows, p, k) for k in ("failed", "longest_gap_s", "all_new_s", "playbook_s")}
                   for p in PATHS}
        summary["ratio_start_first_to_stop_first"] = (summary["start-first"]["all_new_s"]
                                                      / summary["stop-first"]["all_new_s"])
        summary["ratio_restart_to_stop_first"] = summary["restart"]["all_new_s"] / summary["stop-first"]["all_new_s"]
        summary.update(runs=args.runs, pad_mb=args.pad_mb, interval_s=args.interval, drain_s=args.drain,
                       load_average_before=load_before, load_average_after=os.getloadavg())
        if args.json:
            print(json.dumps({"rows": rows, "summary": summary}, indent=2))
            return 0
        print("\ncontainer update under a steady load, medians of %d (web image of %d MB, probe every %d s):"
              % (args.runs, args.pad_mb, args.interval))
        print("  %-34s %8s %13s %14s %10s" % ("path", "failed", "longest gap", "all answers new", "playbook"))
        for p in PATHS:
            s = summary[p]
            print("  %-34s %8g %11.2f s %12.2f s %8.2f s" % (LABELS[p], s["failed"], s["longest_gap_s"],
                                                             s["all_new_s"], s["playbook_s"]))
        print("  ratio start-first / in-place restart, to all answers new   %.2f (goal <= 1.2)"
              % summary["ratio_start_first_to_stop_first"])
        print("  ratio stop/start / in-place restart                         %.2f"
              % summary["ratio_restart_to_stop_first"])
        print("  failed requests on start-first, all runs                    %d (goal 0)"
              % sum(r["failed"] for r in rows if r["path"] == "start-first"))
        print("  load average: before %.2f %.2f %.2f, after %.2f %.2f %.2f"
              % (load_before + summary["load_average_after"]))
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
