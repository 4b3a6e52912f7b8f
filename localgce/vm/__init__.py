"""The COS VM simulator: throwaway "VMs" that boot like Container-Optimized OS.

A VM is a read-only Debian root filesystem (built once by ``localgce.vm.image``) booted by
``systemd-nspawn`` with real systemd, cloud-init and dockerd inside. See docs/dev/vm-simulator.md.
"""

import os
import shutil
import subprocess

REQUIRED_TOOLS = ("systemd-nspawn", "debootstrap", "nsenter", "losetup", "ip", "mount", "umount")


class SimulatorUnavailable(RuntimeError):
    """The host cannot run the simulator; str(exc) is one line saying why."""


def unavailable_reason():
    """Return None when the host can run VMs, else one line saying why it cannot."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "COS VM simulator unavailable: needs Linux"
    if os.geteuid() != 0:
        return "COS VM simulator unavailable: needs root (running as uid %d)" % os.geteuid()
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        return "COS VM simulator unavailable: missing %s (Debian: %s)" % (
            ", ".join(missing), "systemd-container debootstrap iproute2 util-linux")
    if not os.path.isdir("/sys/fs/cgroup"):
        return "COS VM simulator unavailable: /sys/fs/cgroup is not mounted"
    if not os.path.exists("/dev/loop-control"):
        return "COS VM simulator unavailable: no /dev/loop-control (loop devices are needed for disks)"
    if not os.path.exists("/dev/fuse"):
        return "COS VM simulator unavailable: no /dev/fuse (the disks' write log is a FUSE filesystem)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as e:  # OSError: libfuse itself is missing
        return "COS VM simulator unavailable: the disks' write log needs mfusepy and libfuse3 (%s)" % e
    return None


def require_simulator():
    """Raise SimulatorUnavailable with the one-line reason if the host cannot run VMs."""
    reason = unavailable_reason()
    if reason:
        raise SimulatorUnavailable(reason)


def reap(proc, timeout=10):
    """Wait for ``proc`` to end, killing it after ``timeout`` seconds."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
