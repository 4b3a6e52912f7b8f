# -*- coding: utf-8 -*-
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cos_deploy_plan
short_description: Check the inputs of the gce.cos.cos_deploy role and derive what its templates need
version_added: 0.1.0
description:
  - Used by the C(gce.cos.cos_deploy) role right after Ansible's argument validation, before any API call.
    The argument spec checks structure, types and unknown keys; this filter checks values - every container
    spec (with the same code as M(gce.cos.cos_container), each unit built as that module builds it, so a unit
    over a metadata value's 256 KB fails here), ports, disk device names and mount paths, registry hosts and
    Secret Manager references - and returns every problem at once, each naming its variable and key.
  - It also derives the values the role's cloud-init templates and tasks need - disks with their mount paths
    and systemd unit names, the Google registries for C(docker-credential-gcr) (each one a container's image
    names, so it need not be listed in C(registries)), the third-party registry logins, and the ports of the
    firewall rule.
positional: _input
options:
  _input:
    description:
      - A mapping with the role's inputs - C(instance), C(disks), C(containers), C(registries), C(firewall)
        (the values of the C(cos_deploy_*) variables of the same names).
      - C(containers) set to none (the variable is not set) leaves the VM's containers alone - and the firewall
        rule, whose ports are theirs; V([]) is no container at all.
      - Optionally C(metadata_options), the values of the role's options that set instance metadata -
        C(startup_script), C(monitoring), C(logging_fluentbit) and C(update_strategy).
      - Optionally C(toolbox), the value of C(cos_deploy_toolbox) - C(image), C(tag) and C(binds) of COS's
        debugging container.
      - Optionally C(docker_daemon), the value of C(cos_deploy_docker_daemon); a key that one of the flags COS
        starts dockerd with already sets (C(registry-mirrors), C(hosts), C(containerd)) is an error.
      - Optionally C(variables), the names of the C(cos_deploy_*) variables that are set, and
        C(known_variables), the names the role knows; each name set but not known is an error that
        names the closest known one.
    type: dict
    required: true
author:
  - gce.cos contributors
"""

EXAMPLES = r"""
- name: Check the inputs and derive the plan
  ansible.builtin.set_fact:
    plan: >-
      {{ {'instance': cos_deploy_instance, 'disks': cos_deploy_disks, 'containers': cos_deploy_containers,
          'registries': cos_deploy_registries, 'firewall': cos_deploy_firewall} | gce.cos.cos_deploy_plan }}

- name: Stop before any API call when something is wrong
  ansible.builtin.assert:
    that: plan.errors | length == 0
    fail_msg: "{{ plan.errors | join('; ') }}"
"""

RETURN = r"""
_value:
  description: The checked and derived values.
  type: dict
  contains:
    errors:
      description: One message per problem, each starting with the variable and key, for example
        C(cos_deploy_containers[0].ports[0]).
      type: list
      elements: str
    warnings:
      description: Valid but risky settings (for example a secret-looking name in plain C(env)).
      type: list
      elements: str
    containers_given:
      description: Whether C(containers) was given (a list, even empty); when not, the role leaves the VM's
        containers and firewall rule alone.
      type: bool
    disks:
      description: The disks with defaults filled in - C(name), C(device_name), C(size_gb), C(type), C(labels),
        C(mount_path), C(mount_options), C(format), C(resize), C(device), C(mount_unit), C(prepare_unit),
        C(resize_unit).
      type: list
      elements: dict
    gcr_registries:
      description:
        - Google registry hosts (C(gcr.io), C(*.gcr.io), C(*-docker.pkg.dev)) for
          C(docker-credential-gcr configure-docker --registries) - those the containers' images name, and
          those listed in C(registries).
        - A listed Google registry that an image names already gets a warning that the entry can go.
      type: list
      elements: str
    logins:
      description: Third-party registries - C(server), C(username), C(password_secret) (a full Secret Manager
        version reference) and C(unit), the systemd unit that logs in at boot.
      type: list
      elements: dict
    ports:
      description: Every port of the firewall rule, as C(N/tcp) or C(N/udp) - the containers' C(ports) and
        the extra ports, sorted.
      type: list
      elements: str
    host_ports:
      description: The extra ports opened in the host firewall by cloud-init, as mappings of C(port) and
        C(proto) (container ports are opened by their own units).
      type: list
      elements: dict
    firewall:
      description: The firewall rule - C(enabled), C(name), C(network), C(source_ranges), C(target_tag).
      type: dict
    toolbox:
      description: The content of C(/etc/default/toolbox) (C(TOOLBOX_DOCKER_IMAGE), C(TOOLBOX_DOCKER_TAG),
        C(TOOLBOX_BIND)), or none when C(toolbox) is empty (COS's own defaults).
      type: str
    args:
      description:
        - The options of each module task of the role, exactly as its tasks pass them, already checked by each
          module's own argument spec and validator (so a bad value fails before the first API call) -
          C(instance) (M(gce.cos.cos_instance), without C(user_data)), C(disks) (one M(gce.cos.cos_disk) task
          per disk) and C(firewall) (M(gce.cos.cos_firewall); none when the rule is disabled or the containers
          are not given).
      type: dict
"""

from ansible_collections.gce.cos.plugins.module_utils._deploy import vm
from ansible_collections.gce.cos.plugins.plugin_utils.role_filters import planner_filter

cos_deploy_plan = planner_filter("cos_deploy_plan", vm.plan)


class FilterModule(object):
    def filters(self):
        return {"cos_deploy_plan": cos_deploy_plan}
