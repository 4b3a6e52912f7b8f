# -*- coding: utf-8 -*-
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cos_disk_units
short_description: The cloud-config part that prepares and mounts persistent disks at every boot
version_added: 0.1.0
description:
  - Used by the C(gce.cos.cos_deploy) role (its C(disks.yml.j2) template). Returns the C(write_files) and C(runcmd)
    entries that, at every boot of a Container-Optimized OS VM, prepare each disk (format it only when it is
    blank, check an ext4 filesystem with C(fsck.ext4 -p), refuse anything else) and mount it where the container
    units require it.
  - The same part is written by M(gce.cos.cos_container) when it migrates a konlet VM with persistent disks;
    both come from the collection's C(module_utils/_vm/disk_units.py).
positional: _input
options:
  _input:
    description:
      - The disks, as the C(disks) of the C(gce.cos.cos_deploy_plan) filter - each with C(name), C(device_name),
        C(mount_path), C(mount_options), C(format) and C(resize).
    type: list
    elements: dict
    required: true
author:
  - gce.cos contributors
"""

EXAMPLES = r"""
- name: The disk part of the user-data
  ansible.builtin.debug:
    msg: "{{ plan.disks | gce.cos.cos_disk_units }}"
"""

RETURN = r"""
_value:
  description:
    - A mapping with C(write_files) and C(runcmd), or an empty mapping without disks.
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.gce.cos.plugins.module_utils._vm import disk_units


def cos_disk_units(disks):
    if not isinstance(disks, (list, tuple)):
        raise AnsibleFilterError("cos_disk_units: expects a list of disks, got %s" % type(disks).__name__)
    try:
        return disk_units.fragment([dict(d) for d in disks])
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("cos_disk_units: a disk lacks %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"cos_disk_units": cos_disk_units}
