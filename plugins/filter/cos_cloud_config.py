# -*- coding: utf-8 -*-
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cos_cloud_config
short_description: Merge cloud-config parts into one C(#cloud-config) document, with the cos agent
version_added: 0.1.0
description:
  - Merges a list of cloud-config parts (mappings, or YAML text such as a rendered template) into one
    C(#cloud-config) document for the C(user-data) metadata key of a Container-Optimized OS VM.
  - Lists (C(write_files), C(runcmd), C(bootcmd), ...) are concatenated in the order of the parts; mappings
    are merged key by key; the same scalar given twice with different values is an error.
  - With O(agent=true) the cos agent's own part (its scripts, its systemd unit and the commands that start
    it) is added last, so that the units written by the other parts exist before the agent starts any
    container. The agent part comes from the collection's C(module_utils), the same text
    M(gce.cos.cos_container) installs.
  - Only top-level keys that the cloud-init schema knows are accepted (cloud-init itself silently ignores a
    misspelled top-level key), and two files written to the same path are refused.
  - Only keys that COS's cloud-init acts on are accepted; it runs the modules of C(bootcmd), C(write_files),
    C(runcmd), C(users), C(groups), C(user) and C(final_message) only, so any other key (C(packages),
    C(mounts), C(disk_setup), C(ssh_authorized_keys), ...) would be silently ignored on the VM and is
    refused, naming the key.
  - The result is deterministic (the same parts give the same bytes), so a re-run changes nothing, and it
    must fit the 256 KB limit of one metadata value.
positional: _input
options:
  _input:
    description:
      - The parts, in order. Each is a mapping or YAML text (a leading C(#cloud-config) line is allowed);
        empty parts are skipped.
    type: list
    elements: raw
    required: true
  agent:
    description:
      - Whether to add the cos agent's part.
    type: bool
    default: true
author:
  - gce.cos contributors
"""

EXAMPLES = r"""
- name: One user-data document from the role's templates
  ansible.builtin.set_fact:
    user_data: >-
      {{ [lookup('ansible.builtin.template', 'disks.yml.j2'),
          lookup('ansible.builtin.template', 'docker.yml.j2')] | gce.cos.cos_cloud_config }}

- name: Without the agent
  ansible.builtin.debug:
    msg: "{{ [{'runcmd': [['echo', 'hello']]}] | gce.cos.cos_cloud_config(agent=false) }}"
"""

RETURN = r"""
_value:
  description:
    - The document, starting with C(#cloud-config).
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.gce.cos.plugins.module_utils._vm.cloud_config import (
    MAX_BYTES,
    SCHEMA_KEYS,
    CloudConfigError,
    assemble,
    assemble_doc,
)
from ansible_collections.gce.cos.plugins.module_utils.plain_data import plain_inputs

# The document logic (loading, merging, checks, the agent's part, dumping) lives in
# module_utils/_vm/cloud_config.py, shared with cos_container; this file is the filter's interface.

# MAX_BYTES and SCHEMA_KEYS stay importable from here (tests/e2e checks deployed documents with them).
__all__ = ("MAX_BYTES", "SCHEMA_KEYS", "FilterModule", "cos_cloud_config", "merge_parts")


def merge_parts(parts, agent=True):
    """The merged cloud-config as a dict (the filter's work without the YAML text)."""
    try:
        return assemble_doc(parts, agent=agent)
    except CloudConfigError as exc:
        raise AnsibleFilterError("cos_cloud_config: %s" % exc)


def cos_cloud_config(parts, agent=True):
    try:
        return assemble(parts, agent=agent)
    except CloudConfigError as exc:
        raise AnsibleFilterError("cos_cloud_config: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"cos_cloud_config": plain_inputs(cos_cloud_config)}
