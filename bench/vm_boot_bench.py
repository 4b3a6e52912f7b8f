"""COS VM simulator boot benchmark.

    python bench/vm_boot_bench.py [--runs N] [--cold-image]

For each run, a new instance (fresh persistent /var) is booted and timed from boot() to:
  systemd up      systemctl is-system-running says running/degraded
  dockerd ready   `docker version` answers inside the VM
  http            a busybox httpd container (docker import of a ~1 MB busybox-static
                  rootfs, then docker run -p) answers on the host's forwarded port
then power_off() is timed. The rootfs build is reported separately: "cached" when the
image is already built, its time when this run built it; --cold-image builds a throwaway
copy in a temp cache to measure the first-time build (about a minute and a half).
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
from localgce.vm.testimage import busybox_rootfs_tar, http_get_eventually


def build_image(cold):
    if cold:
        tmp = tempfile.mkdtemp(prefix="gce-cos-bench-cache-")
        saved = image.CACHE_DIR
        image.CACHE_DIR = tmp
        try:
            t0 = time.monotonic()
            image.build(log=lambda m: None)
            cold_s = time.monotonic() - t0
        finally:
            image.CACHE_DIR = saved
            shutil.rmtree(tmp, ignore_errors=True)
        print("rootfs first-time build (cold, throwaway cache): %.1f s" % cold_s)
    was_built = image.is_built()
    t0 = time.monotonic()
    rootfs = image.build(log=lambda m: None)
    took = time.monotonic() - t0
    print("rootfs: %s (%s)" % (rootfs, "cached, lookup %.2f s" % took if was_built else "built now in %.1f s" % took))
    return rootfs


def one_run(rootfs, tar, workdir, i):
    vm = VirtualMachine(os.path.join(workdir, "vm-%d" % i), rootfs=rootfs)
    try:
        t0 = time.monotonic()
        vm.boot(str(1000 + i), "bench-%d" % i, port_forwards=[8080])
        up = time.monotonic() - t0
        while vm.exec(["docker", "version"]).returncode != 0:
            time.sleep(0.05)
        docker = time.monotonic() - t0
        r = vm.exec(["docker", "import", "-", "bb:1"], input=tar, text=False)
        assert r.returncode == 0, r.stderr
        r = vm.exec(["docker", "run", "-d", "-p", "8080:80", "bb:1", "/bin/busybox", "httpd", "-f", "-p", "80",
                     "-h", "/www"])
        assert r.returncode == 0, r.stderr
        http_get_eventually("http://127.0.0.1:%d/index.html" % vm.ports[8080], tries=600, pause=0.02)
        http = time.monotonic() - t0
        t1 = time.monotonic()
        vm.power_off()
        off = time.monotonic() - t1
        return up, docker, http, off
    finally:
        vm.destroy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold-image", action="store_true", help="also time a first-time rootfs build")
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason:
        print(reason)
        return 1
    rootfs = build_image(args.cold_image)
    tar = busybox_rootfs_tar("bench\n")
    workdir = tempfile.mkdtemp(prefix="gce-cos-bench-")
    rows = []
    try:
        for i in range(args.runs):
            rows.append(one_run(rootfs, tar, workdir, i))
            print("run %d: systemd up %.2f s, dockerd ready %.2f s, container answering %.2f s, power off %.2f s"
                  % (i + 1, *rows[-1]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    cols = list(zip(*rows, strict=False))
    names = ("boot -> systemd up", "boot -> dockerd ready", "boot -> container answering HTTP", "power off")
    print("\nmedian over %d runs (min-max):" % len(rows))
    for name, col in zip(names, cols, strict=False):
        print("  %-34s %.2f s (%.2f-%.2f)" % (name, statistics.median(col), min(col), max(col)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
