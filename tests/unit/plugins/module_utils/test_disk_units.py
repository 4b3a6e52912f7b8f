"""disk_units: the disk part of the user-data, shared by the role's disks.yml.j2 and the konlet migration."""

from ansible_collections.gce.cos.plugins.module_utils._vm import agent_scripts, disk_units

# What the role's template wrote before the part moved into module_utils, for a disk of cos_deploy_disks.
ROLE_DISK = {"name": "db-data", "device_name": "db-data", "mount_path": "/mnt/disks/db-data",
             "mount_options": "discard,defaults", "format": True, "resize": True}
PREPARE = """\
# gce.cos cos_deploy: disk db-data (device db-data)
[Unit]
Description=Check, and format when blank, disk db-data
DefaultDependencies=no
Before=mnt-disks-db\\x2ddata.mount shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=30min
ExecStart=/bin/bash /var/lib/cos-agent/bin/disk-prepare /dev/disk/by-id/google-db-data format
"""
MOUNT = """\
# gce.cos cos_deploy: disk db-data (device db-data); never falls back to the tmpfs
[Unit]
Description=Disk db-data at /mnt/disks/db-data
Requires=cos-disk-prepare-db-data.service
After=cos-disk-prepare-db-data.service
Wants=cos-disk-resize-db-data.service

[Mount]
What=/dev/disk/by-id/google-db-data
Where=/mnt/disks/db-data
Type=ext4
Options=discard,defaults
DirectoryMode=0755
"""
RESIZE = """\
# gce.cos cos_deploy: grow the filesystem of disk db-data after the disk grew
[Unit]
Description=Grow the filesystem of disk db-data
DefaultDependencies=no
BindsTo=mnt-disks-db\\x2ddata.mount
After=mnt-disks-db\\x2ddata.mount

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/resize2fs /dev/disk/by-id/google-db-data
"""


def test_the_role_gets_the_units_its_template_wrote():
    assert disk_units.units(ROLE_DISK) == {
        "cos-disk-prepare-db-data.service": PREPARE, "mnt-disks-db\\x2ddata.mount": MOUNT,
        "cos-disk-resize-db-data.service": RESIZE}
    part = disk_units.fragment([ROLE_DISK])
    assert part["write_files"][0] == {"path": "/var/lib/cos-agent/bin/disk-prepare", "permissions": "0755",
                                      "owner": "root", "content": agent_scripts.DISK_PREPARE_SCRIPT}
    assert [f["path"] for f in part["write_files"][1:]] == [
        "/etc/systemd/system/cos-disk-prepare-db-data.service", "/etc/systemd/system/mnt-disks-db\\x2ddata.mount",
        "/etc/systemd/system/cos-disk-resize-db-data.service"]
    assert part["runcmd"] == [["systemctl", "daemon-reload"], ["systemctl", "start", "mnt-disks-db\\x2ddata.mount"]]
    assert disk_units.fragment([]) == {}


def test_migrated_disks_mount_where_the_container_units_require_them():
    from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit

    rw = disk_units.disk("data")
    part = disk_units.disk("multi", partition=2)
    ro = disk_units.disk("archive", read_only=True)
    for d, device, partition in ((rw, "data", None), (part, "multi", 2), (ro, "archive", None)):
        assert container_unit.disk_mount_unit(device, partition) in disk_units.units(d, by="cos_container migrate")
    assert "ExecStart=/bin/bash /var/lib/cos-agent/bin/disk-prepare /dev/disk/by-id/google-multi-part2 format\n" in (
        disk_units.units(part)["cos-disk-prepare-multi-part2.service"])
    assert "cos-disk-resize-multi-part2.service" not in disk_units.units(part)
    # Attached read-only: neither formatted nor checked (both write), only mounted read-only.
    assert list(disk_units.units(ro)) == ["mnt-disks-archive.mount"]
    assert "Options=ro\n" in disk_units.units(ro)["mnt-disks-archive.mount"]
    assert disk_units.owns_file("/etc/systemd/system/cos-disk-prepare-data.service")
    assert not disk_units.owns_file("/etc/systemd/system/app.service")
