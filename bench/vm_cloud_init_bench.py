"""Boot time of the simulated VM with this recipe's cloud-init against another image's (a baseline).

    python bench/vm_cloud_init_bench.py --baseline ROOTFS [--runs N]     (root, under the VM lock)

ROOTFS is an older image stage's rootfs (python -m localgce.vm.image path, on an older
checkout). Runs alternate between the two images; each times boot -> systemd up and
boot -> cloud-init done (/run/cloud-init/result.json: on COS 121 and later `cloud-init status
--wait` never exits 0) and the time cloud-init's own units took (systemd-analyze blame), with a
user-data that writes a file and runs a command, served by a metadata server stand-in (the
current image's cloud-init reads it from there; an image older than that reads nothing).
Prints medians and the ratio current/baseline.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from localgce.vm import image, unavailable_reason
from localgce.vm.machine import VirtualMachine
from tests.vm.conftest import FakeUpstream

USER_DATA = "#cloud-config\nwrite_files:\n- {path: /etc/bench, content: x}\nruncmd:\n- [touch, /run/bench]\n"


def cloud_init_seconds(blame):
    """The time cloud-init's own units took (systemd-analyze blame lines like '1.2s cloud-final.service')."""
    total = 0.0
    for line in blame.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("cloud-") and parts[1].endswith(".service"):
            text = parts[0]
            total += float(text[:-2]) / 1000 if text.endswith("ms") else float(text.rstrip("s"))
    return total


def one_run(rootfs, workdir, i, upstream):
    vm = VirtualMachine(os.path.join(workdir, "vm-%d" % i), rootfs=rootfs)
    name = "cibench-%d" % i
    upstream.instance(name, 2000 + i, USER_DATA)
    try:
        t0 = time.monotonic()
        vm.boot(str(2000 + i), name, metadata_url=upstream.guest_url(name))
        up = time.monotonic() - t0
        vm.wait_cloud_init(timeout=300)
        done = time.monotonic() - t0
        version = vm.exec(["cloud-init", "--version"]).stdout.split()[-1]
        own = cloud_init_seconds(vm.exec(["systemd-analyze", "blame", "--no-pager"]).stdout)
        vm.power_off()
        return up, done, own, version
    finally:
        vm.destroy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", required=True, help="rootfs of the image to compare with")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason:
        print(reason)
        return 1
    current = image.build(log=lambda m: None)
    workdir = tempfile.mkdtemp(prefix="gce-cos-cibench-")
    rows = {"baseline": [], "current": []}
    versions = {}
    n = 0
    upstream = FakeUpstream()
    try:
        for i in range(args.runs):
            for name, rootfs in (("baseline", args.baseline), ("current", current)):
                up, done, own, versions[name] = one_run(rootfs, workdir, n, upstream)
                n += 1
                rows[name].append((up, done, own))
                print("%s run %d (cloud-init %s): systemd up %.2f s, cloud-init done %.2f s, cloud-init's units %.2f s"
                      % (name, i + 1, versions[name], up, done, own))
    finally:
        upstream.close()
        shutil.rmtree(workdir, ignore_errors=True)
    med = {n: [statistics.median(c) for c in zip(*r, strict=True)] for n, r in rows.items()}
    print("\nmedian over %d runs each:" % args.runs)
    for i, what in enumerate(("boot -> systemd up", "boot -> cloud-init done", "cloud-init's units")):
        print("  %-24s baseline (cloud-init %s) %.2f s, current (cloud-init %s) %.2f s, ratio %.2f"
              % (what, versions["baseline"], med["baseline"][i], versions["current"], med["current"][i],
                 med["current"][i] / med["baseline"][i]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
