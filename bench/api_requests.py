"""API requests of a converge and of a no-op re-run, against the minimum possible.

Runs the modules as real processes (tests/api/module_runner.py) against a localgce whose
operations take a moment (so operation waits really happen), one resource after the other,
the way a play does: a data disk, a COS instance with that disk attached, and a firewall
rule for the instance's tag. The request log of localgce is read after each module run.

Minimum possible, per resource:
  - create: one insert and one operation wait (2 requests);
  - no-op re-run: one GET.

Usage: .venv/bin/python bench/api_requests.py [--operation-delay SECONDS] [--json]
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))

from module_runner import connection, run_module  # noqa: E402

import conftest  # noqa: E402,F401 - links the collection under .build/pythonpath
from localgce.testing import LocalGCE  # noqa: E402

ZONE = "us-central1-a"
# (module, options): one resource each, in converge order. A module not written yet is skipped.
RESOURCES = [
    ("cos_disk", dict(name="bench-data", zone=ZONE, size_gb=10, type="pd-balanced")),
    ("cos_instance", dict(name="bench-vm", zone=ZONE, machine_type="e2-small", network_tags=["bench"],
                          disks=[dict(name="bench-data", device_name="data")],
                          user_data="#cloud-config\nbootcmd:\n  - echo bench\n")),
    ("cos_firewall", dict(name="bench-allow-http", ports=["80/tcp"], target_tags=["bench"])),
]
MIN_CREATE = 2  # insert + operation wait
MIN_NOOP = 1  # one GET


def kinds(log):
    out = {"GET": 0, "mutating": 0, "wait": 0}
    for entry in log:
        if entry["method"] == "GET":
            out["GET"] += 1
        elif entry["path"].endswith("/wait"):
            out["wait"] += 1
        elif entry.get("mutating"):
            out["mutating"] += 1
    out["total"] = len(log)
    return out


def run_round(server, resources):
    rows = []
    for module, options in resources:
        server.clear_requests()
        result = run_module(module, dict(connection(server), **options), diff=False)
        if result.get("failed"):
            raise SystemExit("%s failed: %s" % (module, result.get("msg")))
        rows.append(dict(module=module, changed=result["changed"], **kinds(server.requests())))
    return rows


def ratio(count, minimum):
    return "%.2fx" % (count / float(minimum)) if minimum else "-"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--operation-delay", type=float, default=0.3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    resources = [(m, o) for m, o in RESOURCES if os.path.exists(os.path.join(ROOT, "plugins", "modules", m + ".py"))]
    skipped = [m for m, _o in RESOURCES if (m, _o) not in resources]
    server = LocalGCE.start(operation_delay=args.operation_delay)
    os.environ.setdefault("GCE_COS_RETRY_INITIAL_DELAY", "0.05")
    try:
        create = run_round(server, resources)
        noop = run_round(server, resources)
    finally:
        server.stop()
    report = {"create": create, "noop": noop, "skipped": skipped, "operation_delay": args.operation_delay}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("API requests per resource (localgce, operation delay %.1fs)" % args.operation_delay)
    print("%-14s %-7s %5s %4s %9s %5s %8s %8s" % ("module", "run", "total", "GET", "mutating", "wait", "minimum",
                                                 "ratio"))
    for label, rows, minimum in (("create", create, MIN_CREATE), ("no-op", noop, MIN_NOOP)):
        for row in rows:
            print("%-14s %-7s %5d %4d %9d %5d %8d %8s" % (row["module"], label, row["total"], row["GET"],
                                                          row["mutating"], row["wait"], minimum,
                                                          ratio(row["total"], minimum)))
        total = sum(r["total"] for r in rows)
        least = minimum * len(rows)
        print("%-14s %-7s %5d %4s %9s %5s %8d %8s" % ("all", label, total, "", "", "", least, ratio(total, least)))
    bad = [r["module"] for r in noop if r["changed"] or r["mutating"]]
    if bad:
        print("NOT IDEMPOTENT: %s" % ", ".join(bad))
    if skipped:
        print("not measured (module missing): %s" % ", ".join(skipped))
    print("create extras: cos_instance also reads the instance first (404), looks for the name in other zones "
          "(aggregatedList), resolves the image family, and reads the instance back for its IPs.")


if __name__ == "__main__":
    main()
