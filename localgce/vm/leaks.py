"""Find what a piece of work left behind on the host: processes, mounts, loop devices,
cgroups, network namespaces and nspawn's temp dirs.

    snap = leaks.snapshot()
    ... boot and power off VMs ...
    leftovers = leaks.diff(snap)          # {} when clean
    leaks.assert_clean(snap)              # raises AssertionError listing the leftovers

The simulator's write log (writelog.py: one `localgce.vm.writelog` process and one FUSE mount
under /run/gce-cos-writelog per running VM) shows up as a process and a mount; the stateful
volume as a loop device and a mount.

A process counts only if it appeared after the snapshot and is still alive after a short
settle time (so a process that is just exiting is not reported). Kernel threads are ignored.
By default only the simulator's own things count (see diff()), so that other work on a
shared machine does not make the check fail.
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


def _nspawn_temp():
    # nspawn keeps a throwaway /etc overlay upper dir here while a VM runs.
    try:
        return {n for n in os.listdir("/var/tmp") if n.startswith("nspawn-")}
    except FileNotFoundError:
        return set()


def snapshot():
    return {
        "nspawn_temp": _nspawn_temp(),
        "processes": _processes(),
        "mounts": _mounts(),
        "loops": _loops(),
        "cgroups": _cgroups(),
        "netns": _netns(),
    }


MARKERS = ("systemd-nspawn", "localgce.vm", "gce-cos", "gcecos-", "nspawn-")


def _cgroup_of(pid):
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            return f.read()
    except OSError:
        return ""


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _ours(pid, procs, me, markers, cgroup_marker):
    """A simulator process: descends from the checker, or from/is a marked process (nspawn,
    relay) or sits in a simulator cgroup. Other work on the machine is not counted: a `flock`
    command (another session queued on a shared lock such as /tmp/gce-cos-vm.lock, whose name
    holds a marker) is no simulator process, nor is what it runs, unless it descends from the
    checker."""
    by_pid = {p: cmd for (p, _s), cmd in procs.items()}
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        cmd = by_pid.get(pid, "")
        if pid == me or (not _is_flock(cmd) and any(m in cmd for m in markers)) or \
                any(m in _cgroup_of(pid) for m in cgroup_marker):
            return True
        pid = _ppid(pid)
    return False


def _is_flock(cmd):
    return os.path.basename(cmd.split(" ", 1)[0]) == "flock"


def diff(before, settle=5.0, scope="simulator", only=None):
    """What exists now and did not at `before`; waits up to `settle` s for stragglers to go.

    scope="simulator" counts only what the simulator makes (its processes and their children,
    gce-cos cgroups, gcecos- netns, loop devices, mounts naming them), so that unrelated work
    running on the same machine is not reported; scope="all" counts everything new.
    only=[strings] narrows it to things naming one of them (e.g. a VM's key, state dir and
    disk files), so that other VMs booted meanwhile (parallel tests) are not counted."""
    deadline = time.monotonic() + settle
    me = os.getpid()
    every = scope == "all"
    markers = tuple(only) if only else MARKERS
    cg_markers = tuple(only) if only else ("gce-cos",)

    def _marked(text):
        return any(m in text for m in markers) or (not only and "/dev/loop" in text)

    while True:
        now = snapshot()
        procs = now["processes"]
        left = {
            "processes": sorted(
                "%d %s" % (pid, cmd)
                for (pid, start), cmd in procs.items()
                if (pid, start) not in before["processes"] and pid != me
                and (every or _ours(pid, procs, me, markers, cg_markers))
            ),
            "mounts": sorted("%s (%s)" % m for m in now["mounts"] - before["mounts"] if every or _marked(" ".join(m))),
            "loops": sorted(loop for loop in now["loops"] - before["loops"] if every or not only or _marked(loop)),
            "cgroups": sorted(c for c in now["cgroups"] - before["cgroups"]
                              if every or any(m in c for m in cg_markers)),
            "netns": sorted(n for n in now["netns"] - before["netns"]
                            if every or (n.startswith("gcecos-") and (not only or _marked(n)))),
            # nspawn's temp dirs have random names: they can only be checked machine-wide.
            "nspawn_temp": sorted(now["nspawn_temp"] - before["nspawn_temp"]) if not only else [],
        }
        left = {k: v for k, v in left.items() if v}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.25)


def assert_clean(before, settle=5.0, scope="simulator", only=None):
    left = diff(before, settle, scope, only)
    if left:
        lines = ["left behind:"]
        for kind, items in left.items():
            lines += ["  %s: %s" % (kind, item) for item in items]
        raise AssertionError("\n".join(lines))
