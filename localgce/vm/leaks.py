"""Find what a piece of work left behind on the host: processes, mounts, loop devices,
cgroups and network namespaces.

    snap = leaks.snapshot()
    ... boot and power off VMs ...
    leftovers = leaks.diff(snap)          # {} when clean
    leaks.assert_clean(snap)              # raises AssertionError listing the leftovers

A process counts only if it appeared after the snapshot and is still alive after a short
settle time (so a process that is just exiting is not reported). Kernel threads are ignored.
"""

import os
import time


def _processes():
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ppid, start = int(fields[1]), fields[19]
        if not cmd or ppid == 2 or name == "2":  # kernel threads
            continue
        out[(int(name), start)] = cmd
    return out


def _mounts():
    with open("/proc/self/mountinfo") as f:
        return {(line.split()[4], line.split(" - ")[1].split()[1]) for line in f}


def _loops():
    out = set()
    for dev in os.listdir("/sys/block"):
        path = "/sys/block/%s/loop/backing_file" % dev
        if os.path.exists(path):
            with open(path) as f:
                out.add("/dev/%s -> %s" % (dev, f.read().strip()))
    return out


def _cgroups():
    out = set()
    with open("/proc/self/mountinfo") as f:
        roots = [line.split()[4] for line in f if line.split(" - ")[1].split()[0] in ("cgroup", "cgroup2")]
    for root in roots:
        for dirpath, _dirs, _files in os.walk(root):
            out.add(dirpath)
    return out


def _netns():
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def snapshot():
    return {
        "processes": _processes(),
        "mounts": _mounts(),
        "loops": _loops(),
        "cgroups": _cgroups(),
        "netns": _netns(),
    }


def diff(before, settle=5.0):
    """What exists now and did not at `before`; waits up to `settle` s for stragglers to go."""
    deadline = time.monotonic() + settle
    while True:
        now = snapshot()
        me = os.getpid()
        left = {
            "processes": sorted(
                "%d %s" % (pid, cmd)
                for (pid, start), cmd in now["processes"].items()
                if (pid, start) not in before["processes"] and pid != me
            ),
            "mounts": sorted("%s (%s)" % m for m in now["mounts"] - before["mounts"]),
            "loops": sorted(now["loops"] - before["loops"]),
            "cgroups": sorted(now["cgroups"] - before["cgroups"]),
            "netns": sorted(now["netns"] - before["netns"]),
        }
        left = {k: v for k, v in left.items() if v}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.25)


def assert_clean(before, settle=5.0):
    left = diff(before, settle)
    if left:
        lines = ["left behind:"]
        for kind, items in left.items():
            lines += ["  %s: %s" % (kind, item) for item in items]
        raise AssertionError("\n".join(lines))
