"""A power cut loses what the guest had not flushed; an orderly reset loses nothing.

The VM's disks and its stateful volume (the agent's /var/lib/cos-agent) sit on the write log
(localgce/vm/writelog.py): a write reaches the image file only when the guest flushes (fsync,
`sync FILE`, a filesystem's journal commit). On the code before the write log every write
reached the host's page cache and survived the "cut".
"""

import os

import pytest

from localgce.vm import leaks
from localgce.vm.machine import STATEFUL_MOUNT, VirtualMachine, create_disk

NAME, INSTANCE_ID = "vm-cut-1", "4242424243"
DEV = "/dev/disk/by-id/google-data"


@pytest.fixture(scope="module")
def vm(rootfs, upstream, workdir):
    upstream.instance(NAME, INSTANCE_ID, "#cloud-config\n{}\n")
    disk = create_disk(os.path.join(workdir, "disks", "cut.img"), 1)
    machine = VirtualMachine(os.path.join(workdir, "instances", NAME), rootfs=rootfs)
    snap = leaks.snapshot()
    try:
        machine.boot(INSTANCE_ID, NAME, disks=[("data", disk)], metadata_url=upstream.guest_url(NAME))
        yield machine
    finally:
        machine.destroy()
    leaks.assert_clean(snap, only=[machine.key, machine.state_dir, disk])


def sh(vm, script):
    r = vm.exec(["/bin/bash", "-c", script])
    assert r.returncode == 0, r.stderr
    return r.stdout


def block(vm, n):
    """The first bytes of 4 KiB block n of the data disk."""
    return sh(vm, "dd if=%s bs=4096 skip=%d count=1 status=none | head -c 16 | tr -d '\\0'" % (DEV, n))


def test_cut_keeps_the_flushed_write_and_loses_the_unflushed_one(vm):
    sh(vm, "printf flushed-1 | dd of=%s bs=4096 seek=1 conv=fsync status=none" % DEV)
    sh(vm, "printf unflushed-2 | dd of=%s bs=4096 seek=2 status=none" % DEV)
    sh(vm, "printf kept | dd of=%s/flushed status=none && sync %s/flushed %s" % ((STATEFUL_MOUNT,) * 3))
    assert block(vm, 2) == "unflushed-2"  # the guest reads its own write back before the cut

    vm.reset(hard=True)

    assert block(vm, 1) == "flushed-1"
    assert block(vm, 2) == ""
    assert sh(vm, "cat %s/flushed" % STATEFUL_MOUNT) == "kept"
    sh(vm, "mountpoint -q %s" % STATEFUL_MOUNT)  # the stateful volume, not a directory of /var


def test_orderly_reset_keeps_unflushed_writes(vm):
    sh(vm, "printf unflushed-3 | dd of=%s bs=4096 seek=3 status=none" % DEV)
    sh(vm, "printf also-kept > %s/unflushed" % STATEFUL_MOUNT)

    vm.reset()

    assert block(vm, 3) == "unflushed-3"
    assert sh(vm, "cat %s/unflushed" % STATEFUL_MOUNT) == "also-kept"
