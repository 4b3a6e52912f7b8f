# -*- coding: utf-8 -*-
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cos_deploy_group_plan
short_description: Check the inputs of the gce.cos.cos_deploy_group role and derive its tasks' options
version_added: 0.1.0
description:
  - Used by the C(gce.cos.cos_deploy_group) role right after Ansible's argument validation, before any API call.
  - The machine, disks, containers, registries and firewall are checked by P(gce.cos.cos_deploy_plan#filter)
    (the checks of the C(gce.cos.cos_deploy) role); the options of each module task the role runs
    (M(gce.cos.cos_instance_template), M(gce.cos.cos_health_check), M(gce.cos.cos_firewall),
    M(gce.cos.cos_instance_group)) are then checked by each module's own validator. Every error names the
    role variable and key, the value and the fix.
  - Across tasks it also refuses a health check port that no container declares (containers use the host
    network, so a container's C(ports) are the ports it serves) and template prefixes that clash (the canary's
    prefix equal to the group's, or one prefix that looks like a version name of the other, C(PREFIX-HASH),
    so that keeping N versions of one would count the other's).
positional: _input
options:
  _input:
    description:
      - A mapping of the role's inputs, the values of the C(cos_deploy_group_*) variables without the prefix -
        C(name), C(zone), C(region), C(target_zones), C(size), C(base_instance_name), C(instance), C(disks),
        C(containers), C(registries), C(firewall), C(template), C(health_check), C(autohealing),
        C(update_policy), C(canary), C(named_ports), C(state), and optionally C(docker_daemon).
      - Optionally C(variables), the names of the C(cos_deploy_group_*) variables that are set, and
        C(known_variables), the names the role knows.
    type: dict
    required: true
author:
  - gce.cos contributors
"""

EXAMPLES = r"""
- name: Check the inputs and derive the plan
  ansible.builtin.set_fact:
    plan: >-
      {{ {'name': 'web', 'zone': 'us-central1-a', 'size': 3,
          'containers': [{'name': 'web', 'image': 'nginx:1.27', 'ports': ['80']}]} | gce.cos.cos_deploy_group_plan }}
"""

RETURN = r"""
_value:
  description: The checked and derived values.
  type: dict
  contains:
    errors:
      description: One message per problem, each starting with the variable and key.
      type: list
      elements: str
    warnings:
      description: Valid but risky settings.
      type: list
      elements: str
    deploy:
      description: The plan of P(gce.cos.cos_deploy_plan#filter) for the group's machine, which the
        C(gce.cos.cos_deploy) role's cloud-init templates read (disks, registries, host firewall, toolbox).
      type: dict
    args:
      description:
        - The options of each module task - C(template) and C(canary_template) (M(gce.cos.cos_instance_template),
          without C(user_data); C(canary_template) is none without a canary), C(health_check)
          (M(gce.cos.cos_health_check); none without one), C(firewall) and C(health_firewall)
          (M(gce.cos.cos_firewall); none when disabled) and C(group) (M(gce.cos.cos_instance_group), without the
          template names, which the template tasks return).
      type: dict
"""

from ansible_collections.gce.cos.plugins.module_utils._deploy import group
from ansible_collections.gce.cos.plugins.plugin_utils.role_filters import planner_filter

cos_deploy_group_plan = planner_filter("cos_deploy_group_plan", group.plan)


class FilterModule(object):
    def filters(self):
        return {"cos_deploy_group_plan": cos_deploy_group_plan}
