"""Power off leaves nothing behind on the host: no process, loop device, mount, cgroup,
network namespace or nspawn temp dir, after an orderly poweroff and after a forced one."""

import os
import signal
import subprocess
import sys
import time

import pytest

from localgce.vm import leaks
from localgce.vm.machine import VirtualMachine, create_disk
from localgce.vm.testimage import busybox_rootfs_tar, http_get_eventually


def _boot_with_everything(vm, disk, upstream):
    upstream.instance("leaky", "77", "#cloud-config\nruncmd:\n- [sh, -c, 'echo ran > /run/ran']\n")
    vm.boot("77", "leaky", disks=[("d", disk)],
            metadata_url=upstream.guest_url("leaky"), secret_url=upstream.url, port_forwards=[8081])
    # A running container with a restart policy, holding dockerd's cgroups and a port.
    assert vm.exec(["docker", "import", "-", "bb:1"], input=busybox_rootfs_tar("x\n"), text=False).returncode == 0
    r = vm.exec(["docker", "run", "-d", "--restart=always", "-p", "8081:80", "bb:1",
                 "/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"])
    assert r.returncode == 0, r.stderr
    assert http_get_eventually("http://127.0.0.1:%d/index.html" % vm.ports[8081]) == "x\n"
    r = vm.exec(["sh", "-c", "mkfs.ext4 -q /dev/disk/by-id/google-d && mount /dev/disk/by-id/google-d /mnt/disks"])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("timeout", [60, 0], ids=["orderly-poweroff", "forced-after-timeout"])
def test_power_off_leaves_nothing_behind(rootfs, upstream, workdir, timeout):
    disk = create_disk(os.path.join(workdir, "leak-%d.img" % timeout), 1)
    before = leaks.snapshot()
    vm = VirtualMachine(os.path.join(workdir, "leak-%d" % timeout), rootfs=rootfs)
    try:
        _boot_with_everything(vm, disk, upstream)
        # Only what names this VM counts, so VMs of tests running in parallel do not.
        mine = [vm.key, vm.state_dir, disk]
        during = leaks.diff(before, settle=0, only=mine)
        # The checker sees what a running VM holds, so an empty report after power off means something.
        assert {"processes", "loops", "cgroups", "netns"} <= set(during), during
    finally:
        vm.power_off(timeout=timeout)
    leaks.assert_clean(before, only=mine)
    vm.destroy()


def test_a_session_queued_on_the_shared_lock_is_not_a_leak(tmp_path):
    """Another session's `flock /tmp/gce-cos-vm.lock CMD` (the lock's name holds the "gce-cos" marker)
    and what it runs are not the simulator's; a process that names a marker itself still is."""
    lock = str(tmp_path / "gce-cos-vm.lock")
    pids = tmp_path / "pids"
    before = leaks.snapshot()
    # Started through a shell that exits at once, so that neither descends from this test (as another
    # session's would not); its own session, so that it can be stopped by its group id.
    sh = subprocess.Popen(
        ["sh", "-c", 'flock "$1" "$2" -c "import time; time.sleep(60)" & echo $! >"$3"; '
         '"$2" -c "import time; time.sleep(60)" gce-cos-marked & echo $! >>"$3"',
         "-", lock, sys.executable, str(pids)], start_new_session=True)
    try:
        sh.wait(30)
        deadline = time.monotonic() + 30
        while len(pids.read_text().split()) < 2 or not any(
                "time.sleep(60)" in cmd and "flock" not in cmd and "gce-cos-marked" not in cmd
                for cmd in leaks.snapshot()["processes"].values()):
            assert time.monotonic() < deadline, "the flock's command never started"
            time.sleep(0.05)
        flock_pid, marked_pid = (int(p) for p in pids.read_text().split())
        left = leaks.diff(before, settle=0).get("processes", [])
        assert not [p for p in left if "flock" in p or ("time.sleep(60)" in p and "gce-cos-marked" not in p)], left
        assert any(p.startswith("%d " % marked_pid) for p in left), left
        assert flock_pid not in [int(p.split()[0]) for p in left]
    finally:
        os.killpg(sh.pid, signal.SIGKILL)
