#!/usr/bin/python
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cos_instance_info
short_description: Read Compute Engine instances
version_added: 0.1.0
description:
  - Returns one Compute Engine instance by name, or every instance of a zone, as plain data.
  - Never changes anything.
options:
  zone:
    description:
      - The zone of the instances, for example C(us-central1-a).
    type: str
    required: true
  name:
    description:
      - The name of one instance. When not set, all instances of the zone are returned.
    type: str
  filter:
    description:
      - A Compute Engine list filter, for example C(labels.app=web). Ignored when O(name) is set.
    type: str
  compare_containers:
    description:
      - Also read what the cos agent reports on the instance O(name) (its guest attributes, one more GET) and
        compare it with these containers - the C(containers) result of
        M(gce.cos.cos_container), passed as it is (each entry's C(name), and C(revision) for a container to run or
        C(action=remove) for one to go). The comparison is RV(agent).
      - One look, no waiting - for a poll with C(until), C(retries) and C(delay), which prints each retry. The
        gce.cos.cos_deploy role waits this way.
    type: list
    elements: dict
extends_documentation_fragment:
  - gce.cos.gcp
  - gce.cos.attributes.info
author:
  - gce.cos maintainers (@gce-cos)
"""

EXAMPLES = r"""
- name: Deploy without waiting, then poll the agent's reports, showing each retry
  gce.cos.cos_container:
    instance: web-1
    zone: us-central1-a
    containers:
      - {name: web, image: "nginx:1.27", ports: [80]}
    wait: false
  register: deployed

- name: Wait for the agent to run them (every 6 s, at most 5 minutes), stopping early on a failure
  gce.cos.cos_instance_info:
    zone: us-central1-a
    name: web-1
    compare_containers: "{{ deployed.containers }}"
  register: reports
  until: reports.agent.settled
  retries: 50
  delay: 6

- name: Fail with what the agent says
  ansible.builtin.fail:
    msg: "{{ reports.agent.message }}"
  when: not reports.agent.done

- name: Read one instance
  gce.cos.cos_instance_info:
    project: my-project
    zone: us-central1-a
    name: web-1
  register: web

- name: List the instances labelled app=web
  gce.cos.cos_instance_info:
    zone: us-central1-a
    filter: labels.app=web
  register: webs
"""

RETURN = r"""
instances:
  description:
    - The instances found, each in the form of the C(instance) result of M(gce.cos.cos_instance) (snake_case keys,
      names instead of URLs). Empty when O(name) names no instance.
    - Metadata values are shown only for a few non-sensitive keys (such as C(google-logging-enabled)); every other value
      appears as C(sha256:) and its first 16 hex digits. C(user-data) is never shown.
  returned: always
  type: list
  elements: dict
  sample:
    - name: web-1
      zone: us-central1-a
      status: RUNNING
      machine_type: e2-small
      image: cos-stable-121-18867-199-28
      internal_ip: 10.128.0.2
      external_ip: 34.30.1.2
      network: default
      subnetwork: default
      boot_disk: {name: web-1, device_name: persistent-disk-0, size_gb: 10, auto_delete: true}
      disks: []
      labels: {container-vm: cos-stable-121-18867-199-28}
      network_tags: [web]
      metadata_keys: [google-logging-enabled, user-data]
      metadata: {google-logging-enabled: "true", user-data: "sha256:0123456789abcdef"}
      service_account: {email: default, scopes: ["https://www.googleapis.com/auth/cloud-platform"]}
      scheduling: {preemptible: false, provisioning_model: STANDARD, on_host_maintenance: MIGRATE,
                   automatic_restart: true}
      shielded_vm: {secure_boot: false, vtpm: true, integrity_monitoring: true}
      deletion_protection: false
      description: ""
      self_link: https://www.googleapis.com/compute/v1/projects/my-project/zones/us-central1-a/instances/web-1
agent:
  description: The cos agent's reports compared with O(compare_containers).
  returned: when O(compare_containers) is set
  type: dict
  contains:
    settled:
      description: V(true) when waiting longer changes nothing - every container is as wanted, or one failed.
      type: bool
    done:
      description: Every container runs at its wanted revision (or is gone, for one to remove).
      type: bool
    failed:
      description: The first container that failed at its wanted revision (or keeps restarting there), or null.
      type: str
    pending:
      description: The containers still awaited.
      type: list
      elements: str
    containers:
      description:
        - Per container - C(name), C(outcome) (C(done), C(failed) or C(pending)) and, as the agent reports it,
          C(state), C(revision) (and C(want_revision)), C(image), C(digest), C(error) and C(restarts).
      type: list
      elements: dict
    entries:
      description:
        - The entries of O(compare_containers), each with what the agent reports added - C(state), C(image),
          C(digest), C(restarts) (and C(error) at the wanted revision), or C(state=removed) for a container gone -
          as M(gce.cos.cos_container) returns them after its own wait.
      type: list
      elements: dict
    message:
      description:
        - The failure (container, VM, revision, the agent's error), or what is still awaited and what the agent
          last said.
      type: str
      sample: "container web on instance 'web-1' in us-central1-a failed at revision 3f2a9c1d0b7e, as the cos
        agent reports: pull access denied for ghcr.io/acme/web"
"""

from ansible_collections.gce.cos.plugins.module_utils._api_helper.code_cache import use_code_cache

use_code_cache()  # before the module_utils below: on the helper path their compiled code is kept
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import GcpModule
from ansible_collections.gce.cos.plugins.module_utils._instance.info import ARGUMENT_SPEC, read_instances


def main():
    GcpModule(ARGUMENT_SPEC, wait=False).run(read_instances)


if __name__ == "__main__":
    main()
