"""Last (file order): stop the session's localgce, VMs and registries, then check that nothing
the simulator made is left on the host: processes, loop devices, mounts, cgroups, netns."""

import os

from localgce.vm import leaks


def test_nothing_left_behind(e2e):
    state_dir = e2e.vms.state_root
    registries = [e2e.vms.registry, e2e.vms.private_registry]
    e2e.close()
    leaks.assert_clean(e2e.leak_snapshot, settle=15)
    assert all(r.proc.poll() is not None for r in registries)  # stopped and reaped
    assert not os.path.exists(state_dir)  # VMs' /var, disks and registry data were a temp dir
