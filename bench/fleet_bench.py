"""An estate's cost: deploy and no-op converge of N VMs over an inventory, and the inventory build.

API-only localgce (--no-vms: nothing boots; the role does not wait for agents). For N VMs
(default 50) in three zones, each with one container and its firewall rule, and for each forks
setting (default 1, 5, 10):
  - deploy: ``ansible-playbook playbooks/deploy.yml -i ESTATE -f FORKS`` from an empty project;
  - no-op: the same again; it must change nothing and send no mutating request.
Requests per VM are compared with the minimum, seconds per VM with forks 1 of the same run.

Minimum per VM, for the role's three API tasks (instance, firewall rule, containers): a no-op
reads each resource once (3 GETs); a deploy reads each once, mutates each once and resolves the
image family once (7; localgce's operations are immediate, so no operation wait is needed).

Then the gce.cos.cos_vms inventory of 50 and of 500 VMs (agent, konlet and unmanaged VMs, made
through the API): wall time of ``ansible-inventory --list`` and its requests, without and with
reports, against ``ansible-inventory`` of an empty static inventory (the start-up baseline).

Each converge runs with the role's API helper off and on (``--api-helper both``), so the
helper's effect on a whole converge is measured in the same run.

Usage: .venv/bin/python bench/fleet_bench.py [--no-vms] [--vms 50] [--forks 1,5,10]
       [--api-helper on|off|both] [--inventory-sizes 50,500] [--env NAME=VALUE ...] [--json]
--env passes extra environment to ansible-playbook (e.g. a fast-path switch being tried).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
sys.path.insert(0, ROOT)

import conftest  # noqa: E402,F401,I001 - the root one: links the collection under .build/pythonpath
from estate import ZONES, Estate, ansible_env, ansible_inventory  # noqa: E402
from localgce.testing import LocalGCE  # noqa: E402

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
TASKS = 3  # instance, firewall rule, containers
MIN_NOOP = TASKS  # one read each
MIN_DEPLOY = TASKS * 2 + 1  # read and mutate each, plus images.getFromFamily


def write_estate(directory, count):
    """A static inventory of ``count`` VMs over ZONES, with group_vars, like examples/estate."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "group_vars").mkdir(exist_ok=True)
    lines = ["all:", "  hosts:"]
    for i in range(count):
        lines += ["    fleet-%03d:" % i, "      fleet_zone: %s" % ZONES[i % len(ZONES)]]
    (directory / "hosts.yml").write_text("\n".join(lines) + "\n")
    (directory / "group_vars" / "all.yml").write_text(
        "cos_deploy_instance:\n"
        "  zone: \"{{ fleet_zone }}\"\n"
        "  machine_type: e2-small\n"
        "cos_deploy_containers:\n"
        "  - name: web\n"
        "    image: nginx:1.27\n"
        "    ports: [80]\n"
        "cos_deploy_wait: false\n")
    return directory / "hosts.yml"


def playbook(env, inventory, forks, helper):
    started = time.monotonic()
    run = subprocess.run([PLAYBOOK, "playbooks/deploy.yml", "-i", str(inventory), "-f", str(forks),
                          "-e", "cos_deploy_api_helper=%s" % str(helper).lower()],
                         env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if run.returncode != 0:
        sys.exit("deploy.yml failed (forks %d):\n%s\n%s" % (forks, run.stdout[-3000:], run.stderr[-2000:]))
    recap = run.stdout[run.stdout.index("PLAY RECAP"):]
    changed = sum(int(part.split("=")[1]) for line in recap.splitlines() for part in line.split()
                  if part.startswith("changed="))
    return seconds, changed


def api_log(srv):
    return [r for r in srv.requests() if r["path"].startswith("/compute/v1/")]


def converge_rows(srv, tmp, count, forks_list, extra_env, helper):
    inventory = write_estate(tmp / "estate", count)
    rows = []
    for forks in forks_list:
        srv.reset()
        run_dir = tmp / ("run-%d-%s" % (forks, "helper" if helper else "plain"))
        env = ansible_env(srv, run_dir, **extra_env)
        run_dir.mkdir(exist_ok=True)
        for phase, minimum in (("deploy", MIN_DEPLOY), ("no-op", MIN_NOOP)):
            srv.clear_requests()
            seconds, changed = playbook(env, inventory, forks, helper)
            log = api_log(srv)
            mutating = sum(1 for r in log if r.get("mutating"))
            rows.append({"phase": phase, "forks": forks, "helper": helper, "vms": count, "seconds": seconds,
                         "seconds_per_vm": seconds / count, "requests": len(log),
                         "requests_per_vm": len(log) / count, "minimum_per_vm": minimum,
                         "ratio_to_minimum": len(log) / count / minimum, "mutating": mutating,
                         "changed_tasks": changed})
    base = {r["phase"]: r["seconds"] for r in rows if r["forks"] == forks_list[0]}
    for r in rows:
        r["speedup"] = base[r["phase"]] / r["seconds"]
        r["ideal_speedup"] = r["forks"] / forks_list[0]
    return rows


def inventory_rows(sizes, tmp):
    rows = []
    for size in sizes:
        with LocalGCE.start() as srv:
            made = Estate(srv).mixed(size)
            env = ansible_env(srv, tmp / ("inv-%d" % size))
            (tmp / ("inv-%d" % size)).mkdir(exist_ok=True)
            empty = tmp / ("inv-%d" % size) / "empty.yml"
            empty.write_text("all: {}\n")
            started = time.monotonic()
            ansible_inventory(env, empty, "--list")
            baseline = time.monotonic() - started
            for reports in (False, True):
                src = tmp / ("inv-%d" % size) / ("fleet%s.cos_vms.yml" % ("-reports" if reports else ""))
                src.write_text("plugin: gce.cos.cos_vms\nwith_reports: %s\n" % str(reports).lower())
                srv.clear_requests()
                started = time.monotonic()
                run = ansible_inventory(env, src, "--list")
                seconds = time.monotonic() - started
                if run.returncode != 0 or "Failed to parse" in run.stderr:
                    sys.exit("ansible-inventory failed:\n" + run.stderr[-3000:])
                hosts = len(json.loads(run.stdout)["_meta"]["hostvars"])
                log = api_log(srv)
                lists = sum(1 for r in log if not r["path"].endswith("/getGuestAttributes"))
                rows.append({"vms": size, "hosts": hosts, "reports": reports, "seconds": seconds,
                             "baseline_seconds": baseline, "ratio_to_baseline": seconds / baseline,
                             "requests": len(log), "list_requests": lists,
                             "agent_vms": sum(1 for _n, _z, kind in made if kind == "agent")})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-vms", action="store_true", default=True,
                    help="API-only localgce (the only mode: the role does not wait for agents)")
    ap.add_argument("--vms", type=int, default=50)
    ap.add_argument("--forks", default="1,5,10")
    ap.add_argument("--inventory-sizes", default="50,500")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for ansible-playbook")
    ap.add_argument("--api-helper", choices=("on", "off", "both"), default="both",
                    help="the role's cos_deploy_api_helper: on (the default of the role), off, or both in one run")
    ap.add_argument("--skip-converge", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    forks_list = [int(f) for f in args.forks.split(",")]
    sizes = [int(s) for s in args.inventory_sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmpdir:
        tmp = Path(tmpdir)
        converge = []
        if not args.skip_converge:
            helpers = {"on": [True], "off": [False], "both": [False, True]}[args.api_helper]
            with LocalGCE.start() as srv:
                for helper in helpers:
                    converge += converge_rows(srv, tmp, args.vms, forks_list, extra_env, helper)
        inventory = inventory_rows(sizes, tmp)
    if args.json:
        print(json.dumps({"converge": converge, "inventory": inventory}, indent=2))
        return
    print("deploy.yml over an inventory of %d VMs (API-only localgce, %d CPUs)%s" % (
        args.vms, os.cpu_count(), (", extra env " + " ".join(args.env)) if args.env else ""))
    print("%-7s %6s %5s %8s %7s %8s %7s %9s %8s %8s %8s %7s" % (
        "phase", "helper", "forks", "seconds", "s/VM", "speedup", "ideal", "req/VM", "minimum", "ratio", "mutating",
        "changed"))
    for r in converge:
        print("%-7s %6s %5d %8.1f %7.2f %7.2fx %6.0fx %9.2f %8d %7.2fx %8d %7d" % (
            r["phase"], "on" if r["helper"] else "off", r["forks"], r["seconds"], r["seconds_per_vm"], r["speedup"],
            r["ideal_speedup"], r["requests_per_vm"], r["minimum_per_vm"], r["ratio_to_minimum"], r["mutating"],
            r["changed_tasks"]))
    plain = {(r["phase"], r["forks"]): r["seconds"] for r in converge if not r["helper"]}
    paired = [r for r in converge if r["helper"] and (r["phase"], r["forks"]) in plain]
    if paired:
        print()
        print("API helper on, against off in the same run (seconds)")
        for r in paired:
            base = plain[(r["phase"], r["forks"])]
            print("%-7s forks %2d: %7.1f against %7.1f, %.2fx" % (r["phase"], r["forks"], r["seconds"], base,
                                                                r["seconds"] / base))
    print()
    print("gce.cos.cos_vms inventory (ansible-inventory --list; baseline: an empty static inventory)")
    print("%5s %8s %8s %9s %9s %9s %6s" % ("VMs", "reports", "seconds", "baseline", "ratio", "requests", "lists"))
    for r in inventory:
        print("%5d %8s %8.2f %9.2f %8.2fx %9d %6d" % (
            r["vms"], "yes" if r["reports"] else "no", r["seconds"], r["baseline_seconds"], r["ratio_to_baseline"],
            r["requests"], r["list_requests"]))


if __name__ == "__main__":
    main()
