#!/usr/bin/python
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cos_health_check
short_description: Manage an HTTP, HTTPS or TCP health check, for example for a group's autohealing
version_added: 0.2.0
description:
  - Creates, updates or deletes one health check (C(healthChecks), or C(regionHealthChecks) with O(region)) of
    type HTTP, HTTPS or TCP.
  - The check is made exactly as the options describe it. Options left out take the defaults of
    C(gcloud compute health-checks create), so leaving out an option on an existing check resets that field.
  - An existing check is changed in place with C(healthChecks.patch), sending only the fields that differ (the
    type's settings go as a whole); a re-run with the same options sends only a read.
  - Health check probes come from 35.191.0.0/16 and 130.211.0.0/22; the VPC firewall must allow them on
    O(port) (see M(gce.cos.cos_firewall)).
options:
  name:
    description:
      - The name of the health check (RFC1035).
    type: str
    required: true
  region:
    description:
      - The region of a regional health check. Without it, the check is global.
    type: str
  state:
    description:
      - V(present) creates or updates the check, V(absent) deletes it.
      - A check that a managed instance group uses for autohealing is not deleted; the task fails naming the
        group.
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - The protocol of the probe.
    type: str
    choices: [HTTP, HTTPS, TCP]
    default: HTTP
  port:
    description:
      - The port probed, 1 to 65535. Default 80 for V(HTTP) and V(TCP), 443 for V(HTTPS).
    type: int
  request_path:
    description:
      - The path of the HTTP(S) request; it must start with C(/). Default C(/). Not for V(TCP).
    type: str
  host:
    description:
      - The C(Host) header of the HTTP(S) request. Default the VM's IP address. Not for V(TCP).
    type: str
  response:
    description:
      - A string the response must begin with (HTTP(S)) or contain (TCP). Default any response.
    type: str
  check_interval_sec:
    description:
      - Seconds between the starts of two probes, 1 to 300.
    type: int
    default: 5
  timeout_sec:
    description:
      - Seconds a probe may take, 1 to 300; at most O(check_interval_sec).
    type: int
    default: 5
  healthy_threshold:
    description:
      - Consecutive successes that make an unhealthy VM healthy, 1 to 10.
    type: int
    default: 2
  unhealthy_threshold:
    description:
      - Consecutive failures that make a healthy VM unhealthy, 1 to 10.
    type: int
    default: 2
  description:
    description:
      - A description of the health check.
    type: str
extends_documentation_fragment:
  - gce.cos.gcp
  - gce.cos.gcp.wait
  - gce.cos.attributes
notes:
  - Every value is checked before the first API call; a bad port, path or timeout fails the task with nothing
    created.
seealso:
  - module: gce.cos.cos_instance_template
  - module: gce.cos.cos_firewall
  - name: Health checks overview
    description: How probes work, and the ranges they come from.
    link: https://cloud.google.com/load-balancing/docs/health-check-concepts
author:
  - gce.cos maintainers (@gce-cos)
"""

EXAMPLES = r"""
- name: An HTTP check of /healthz on port 8080, for autohealing
  gce.cos.cos_health_check:
    name: web-health
    type: HTTP
    port: 8080
    request_path: /healthz
    check_interval_sec: 10
    timeout_sec: 5
    unhealthy_threshold: 3

- name: A regional TCP check
  gce.cos.cos_health_check:
    name: db-health
    region: europe-west1
    type: TCP
    port: 5432

- name: Remove a check
  gce.cos.cos_health_check:
    name: web-health
    state: absent
"""

RETURN = r"""
health_check:
  description:
    - The health check after the task, as plain data; empty when O(state=absent).
    - In check mode, the check as the run would leave it.
  returned: always
  type: dict
  contains:
    name:
      description: The check's name.
      type: str
      sample: web-health
    region:
      description: The region of a regional check; null for a global one.
      type: str
    type:
      description: V(HTTP), V(HTTPS) or V(TCP).
      type: str
      sample: HTTP
    port:
      description: The port probed.
      type: int
      sample: 8080
    request_path:
      description: The HTTP(S) request path; null for TCP.
      type: str
      sample: /healthz
    host:
      description: The C(Host) header; null when not set.
      type: str
    response:
      description: The expected response; null when not set.
      type: str
    check_interval_sec:
      description: Seconds between probes.
      type: int
      sample: 10
    timeout_sec:
      description: Seconds a probe may take.
      type: int
      sample: 5
    healthy_threshold:
      description: Successes that make a VM healthy.
      type: int
      sample: 2
    unhealthy_threshold:
      description: Failures that make a VM unhealthy.
      type: int
      sample: 3
    description:
      description: The description; null when none.
      type: str
    self_link:
      description: The check's URL.
      type: str
      sample: https://www.googleapis.com/compute/v1/projects/my-project/global/healthChecks/web-health
actions:
  description: The API calls the task made (or, in check mode, would make), in order, in words.
  returned: always
  type: list
  elements: str
  sample: ["create health check 'web-health' (HTTP port 8080 /healthz, every 10s, timeout 5s)"]
"""

from ansible_collections.gce.cos.plugins.module_utils._api_helper.code_cache import use_code_cache

use_code_cache()  # before the module_utils below: on the helper path their compiled code is kept
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import GcpModule
from ansible_collections.gce.cos.plugins.module_utils._health_check.engine import converge
from ansible_collections.gce.cos.plugins.module_utils._health_check.options import ARGUMENT_RULES, ARGUMENT_SPEC


def main():
    GcpModule(ARGUMENT_SPEC, **ARGUMENT_RULES).run(converge)


if __name__ == "__main__":
    main()
