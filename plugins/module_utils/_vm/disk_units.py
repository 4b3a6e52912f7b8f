# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The cloud-config part that prepares and mounts persistent disks at every boot: the one owner.

Per disk: one prepare service (``disk-prepare``: probe; mkfs only when blank; fsck), one mount
unit at the path the container units ``Requires=`` (``container_unit.disk_mount_unit``), and
an online resize2fs service. /etc is a tmpfs on COS, so cloud-init writes them at every boot.
When the disk is missing or cannot be checked the mount fails and the containers do not start,
instead of writing into the /mnt/disks tmpfs.

Two users: the role cos_deploy (its template disks.yml.j2, through the filter
``gce.cos.cos_disk_units``) and cos_container's konlet migration (``cloud_config.with_migration``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit, vm_contract
from ansible_collections.gce.cos.plugins.module_utils._vm.agent_scripts import DISK_PREPARE_SCRIPT

DEVICE_PREFIX = "/dev/disk/by-id/google-"
PREPARE_PREFIX = "cos-disk-prepare-"
RESIZE_PREFIX = "cos-disk-resize-"
DEFAULT_OPTIONS = "discard,defaults"


def disk(device_name, partition=None, read_only=False, name=None):
    """A disk of the konlet migration, in the form ``fragment`` takes: konlet's own behaviour.

    konlet formatted a blank disk and checked an ext4 one; a disk attached read-only is only
    mounted read-only (it can be neither formatted nor repaired: no prepare unit). Partitions
    and read-only disks are not resized.
    """
    whole = not partition
    return {
        "name": name or device_name,
        "device_name": device_name,
        "partition": partition or None,
        "mount_path": container_unit.disk_mount_path(device_name, partition),
        "mount_options": "ro" if read_only else DEFAULT_OPTIONS,
        "format": not read_only,
        "read_only": bool(read_only),
        "resize": whole and not read_only,
    }


def _names(d):
    """(device path, device id, mount unit, prepare unit, resize unit) of one disk entry."""
    ident = d["device_name"] + ("-part%d" % d["partition"] if d.get("partition") else "")
    return (
        DEVICE_PREFIX + ident,
        ident,
        container_unit.systemd_escape_path(d["mount_path"]) + ".mount",
        "%s%s.service" % (PREPARE_PREFIX, ident),
        "%s%s.service" % (RESIZE_PREFIX, ident),
    )


def units(d, by="cos_deploy"):
    """{unit name: text} of one disk entry (name, device_name, mount_path, mount_options, format, resize).

    A ``read_only`` disk (attached read-only: it can be neither formatted nor repaired) gets only
    its mount unit, which mounts its ext4 filesystem read-only.
    """
    device, ident, mount, prepare, resize = _names(d)
    out = {}
    if d.get("read_only"):
        out[mount] = "\n".join([
            "# gce.cos %s: disk %s (device %s), attached read-only; never falls back to the tmpfs"
            % (by, d["name"], ident),
            "[Unit]",
            "Description=Disk %s at %s (read-only)" % (ident, d["mount_path"]),
            "",
            "[Mount]",
            "What=%s" % device,
            "Where=%s" % d["mount_path"],
            "Type=ext4",
            "Options=ro",
            "DirectoryMode=0755",
            "",
        ])
        return out
    out[prepare] = "\n".join([
        "# gce.cos %s: disk %s (device %s)" % (by, d["name"], ident),
        "[Unit]",
        "Description=Check, and format when blank, disk %s" % ident,
        "DefaultDependencies=no",
        "Before=%s shutdown.target" % mount,
        "Conflicts=shutdown.target",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        "TimeoutStartSec=30min",
        "ExecStart=/bin/bash %s %s %s"
        % (vm_contract.DISK_PREPARE_PATH, device, "format" if d.get("format", True) else "noformat"),
        "",
    ])
    lines = [
        "# gce.cos %s: disk %s (device %s); never falls back to the tmpfs" % (by, d["name"], ident),
        "[Unit]",
        "Description=Disk %s at %s" % (ident, d["mount_path"]),
        "Requires=%s" % prepare,
        "After=%s" % prepare,
    ]
    if d.get("resize"):
        lines.append("Wants=%s" % resize)
    lines += [
        "",
        "[Mount]",
        "What=%s" % device,
        "Where=%s" % d["mount_path"],
        "Type=ext4",
        "Options=%s" % (d.get("mount_options") or DEFAULT_OPTIONS),
        "DirectoryMode=0755",
        "",
    ]
    out[mount] = "\n".join(lines)
    if d.get("resize"):
        out[resize] = "\n".join([
            "# gce.cos %s: grow the filesystem of disk %s after the disk grew" % (by, ident),
            "[Unit]",
            "Description=Grow the filesystem of disk %s" % ident,
            "DefaultDependencies=no",
            "BindsTo=%s" % mount,
            "After=%s" % mount,
            "",
            "[Service]",
            "Type=oneshot",
            "RemainAfterExit=yes",
            "ExecStart=/sbin/resize2fs %s" % device,
            "",
        ])
    return out


def fragment(disks, by="cos_deploy"):
    """The cloud-config entries (``write_files``, ``runcmd``) that prepare and mount ``disks`` at every boot.

    {} without disks. The mount units are started without --no-block: cloud-init waits for the
    disks, which the container units require anyway.
    """
    disks = list(disks or [])
    if not disks:
        return {}
    files = [{"path": vm_contract.DISK_PREPARE_PATH, "permissions": "0755", "owner": "root",
              "content": DISK_PREPARE_SCRIPT}]
    cmds = [["systemctl", "daemon-reload"]]
    for d in disks:
        for name, text in units(d, by).items():
            files.append({"path": vm_contract.UNIT_DIR + "/" + name, "permissions": "0644", "owner": "root",
                          "content": text})
        cmds.append(["systemctl", "start", _names(d)[2]])
    return {"write_files": files, "runcmd": cmds}


def owns_file(path):
    """Whether ``path`` (a write_files entry) is one this module writes."""
    if path == vm_contract.DISK_PREPARE_PATH:
        return True
    if not path.startswith(vm_contract.UNIT_DIR + "/"):
        return False
    name = path[len(vm_contract.UNIT_DIR) + 1:]
    return name.startswith((PREPARE_PREFIX, RESIZE_PREFIX))
