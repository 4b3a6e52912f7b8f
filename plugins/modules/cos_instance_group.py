#!/usr/bin/python
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cos_instance_group
short_description: Manage a zonal or regional managed instance group of Container-Optimized OS VMs
version_added: 0.2.0
description:
  - Creates, updates or deletes a managed instance group (C(instanceGroupManagers) with O(zone), or
    C(regionInstanceGroupManagers) with O(region)) whose VMs come from instance templates, for example
    those that M(gce.cos.cos_instance_template) makes.
  - Options left out are left as the group has them (a new group gets the API's defaults), except
    O(update_policy.type), which is V(PROACTIVE) unless given.
  - The group is read first and compared with the options as plain data; only the fields that differ
    are patched. A re-run with nothing to change sends only reads, and check mode reports the same plan.
  - A new template (O(instance_template) or O(versions)) needs new VMs, so it goes through the group's own
    rolling update, within O(update_policy) (surge, unavailable, replacement method).
  - O(containers) live in the group's all-instances configuration (metadata), so new and autohealed VMs get
    them at creation. A change of containers is applied to the running VMs without replacing or restarting
    them, in batches of O(update_policy.max_unavailable) VMs (at least one) with
    C(applyUpdatesToInstances) and the minimal action C(REFRESH). Before the next batch, the cos agent of
    every VM of the batch must report the new revision of each container running, which for a container with
    a readiness probe means ready (and, with O(autohealing), the VM must be healthy).
  - With O(update_policy.max_unavailable=0) no VM may stop serving, so every changed container that declares
    ports must update start-first (a readiness probe makes it the default), so that its new revision starts
    beside the old one and takes over its ports once ready. Such a rollout goes in batches of
    O(update_policy.max_surge) VMs. A stop-first container with ports is refused before any change.
  - A batch in which a cos agent reports a failure is rolled back and stops the rollout. The group's
    all-instances configuration (what new and autohealed VMs get) and the batch's VMs get back the containers
    the failed VM ran before the run, and the module waits for their agents to report them. The failure names
    the VM, the container, the agent's error and the last lines of the new revision's log. The VMs not reached
    keep the old revision, and a re-run resumes. A batch that only times out is not rolled back (a slow pull is
    not a failure), and a re-run checks it first.
  - A re-run resumes a rollout that an earlier run left unfinished (it failed, timed out, was interrupted, or
    returned after O(wait_step)) by checking every VM against the wanted revisions. The VMs whose metadata
    already has the wanted containers (refreshed before) must report them running before any other VM is
    refreshed; one that reports C(failed) stops the rollout, naming the VM, the container, the revision and the
    agent's error. The others are refreshed in batches.
  - While the module paces such a rollout, the group's update policy type is C(OPPORTUNISTIC) (so that the
    group does not refresh the other VMs itself); C(PROACTIVE) is restored after the last batch.
  - With O(wait), the task ends once the group is stable and its version target is reached, within
    O(wait_timeout) seconds; a timeout names the pending actions and the VMs not yet on their version.
  - With O(wait_step), a run waits at most that many seconds and then returns RV(done=false), with what it
    waits for in RV(waiting), instead of waiting in silence; the task run again resumes where it stopped. Loop
    it with C(until) to print a line per step (see the examples).
options:
  name:
    description:
      - The group's name (RFC1035).
    type: str
    required: true
  zone:
    description:
      - The zone of a zonal group. Exactly one of O(zone) and O(region) is required.
    type: str
  region:
    description:
      - The region of a regional group, which spreads its VMs over O(target_zones).
    type: str
  target_zones:
    description:
      - The zones of a regional group (its distribution policy), fixed at creation. Without them the API picks
        three zones of the region. Regional groups only.
    type: list
    elements: str
  state:
    description:
      - V(present) creates or updates the group, V(absent) deletes it and its VMs.
    type: str
    choices: [present, absent]
    default: present
  target_size:
    description:
      - The number of VMs. Required to create a group.
    type: int
  base_instance_name:
    description:
      - The prefix of the VMs' names (C(BASE-xxxx)). Defaults to O(name) at creation.
    type: str
  instance_template:
    description:
      - The template of every VM, by name (global), as C(projects/P/regions/R/instanceTemplates/NAME), or as
        a URL. The short form of one version in O(versions).
    type: str
  versions:
    description:
      - One or two versions. The second is a canary, with its O(versions[].target_size); the first gets the
        rest of the group.
    type: list
    elements: dict
    suboptions:
      instance_template:
        description:
          - The version's template, as in O(instance_template).
        type: str
        required: true
      name:
        description:
          - The version's name.
        type: str
      target_size:
        description:
          - The canary's size, a number of VMs (V(1)) or a percent of the group (V(20%)). Second version only.
        type: str
  named_ports:
    description:
      - Named ports for load balancers, for example C(http) on 80.
    type: list
    elements: dict
    suboptions:
      name:
        description: The port's name.
        type: str
        required: true
      port:
        description: The port number.
        type: int
        required: true
  autohealing:
    description:
      - Recreate VMs that the health check finds unhealthy, after an initial delay.
    type: dict
    suboptions:
      health_check:
        description:
          - The health check, by name (global), as C(projects/P/regions/R/healthChecks/NAME), or as a URL (see
            M(gce.cos.cos_health_check)).
        type: str
        required: true
      initial_delay_sec:
        description:
          - Seconds a new VM has to start before its health counts.
        type: int
        default: 300
  update_policy:
    description:
      - How the group rolls out new templates. Fields left out keep the group's values (the API's defaults
        at creation), except O(update_policy.type).
      - O(update_policy.max_surge) and O(update_policy.max_unavailable) take a number of VMs (V(1)) or a
        percent (V(20%)); the API accepts a percent only for groups of 10 or more VMs, and in a regional group
        a fixed value must be 0 or at least the number of zones. They cannot both be 0.
    type: dict
    suboptions:
      type:
        description:
          - V(PROACTIVE) rolls new templates out by itself, V(OPPORTUNISTIC) only when VMs are recreated.
          - V(PROACTIVE) when not given.
        type: str
        choices: [PROACTIVE, OPPORTUNISTIC]
      minimal_action:
        description: The least disruptive action an update takes on a VM.
        type: str
        choices: [NONE, REFRESH, RESTART, REPLACE]
      most_disruptive_allowed_action:
        description: The most disruptive action an update may take on a VM.
        type: str
        choices: [NONE, REFRESH, RESTART, REPLACE]
      max_surge:
        description:
          - How many VMs an update may add above O(target_size). A new group gets the API's default, the
            number of its zones, or 0 with O(stateful_disks).
        type: str
      max_unavailable:
        description:
          - How many VMs may be unavailable during an update. Also the batch size of in-place container
            rollouts (1 when not set). V(0) rolls containers out in batches of O(update_policy.max_surge) VMs and
            needs start-first containers (see the description).
        type: str
      replacement_method:
        description:
          - V(SUBSTITUTE) replaces VMs under new names, V(RECREATE) under their own (needs O(update_policy.max_surge=0);
            required with O(stateful_disks)). A new group gets V(SUBSTITUTE), or V(RECREATE) with O(stateful_disks).
        type: str
        choices: [SUBSTITUTE, RECREATE]
  stateful_disks:
    description:
      - Disks kept across recreation and autohealing, by device name.
    type: list
    elements: dict
    suboptions:
      device_name:
        description: The disk's device name in the template.
        type: str
        required: true
      auto_delete:
        description:
          - V(never) keeps the disk when its VM is deleted; V(on-permanent-instance-deletion) deletes it when the
            VM leaves the group for good.
        type: str
        choices: [never, on-permanent-instance-deletion]
        default: never
  containers:
    description:
      - The containers every VM runs, the exact set; each entry is a container spec with the fields of
        M(gce.cos.cos_container)'s list form, checked the same way. Errors name the entry, for example
        C(containers[1].volumes[0].host_path).
      - Kept in the group's all-instances configuration as the same C(cos-container-NAME) units that
        M(gce.cos.cos_container) writes, plus C(enable-guest-attributes=TRUE) for the agent's reports. The
        VMs' templates must install the cos agent.
      - When not given, the group's containers are left as they are.
    type: list
    elements: dict
  wait:
    description:
      - Wait until the group is stable and its version target reached (and, for in-place container
        rollouts, until each batch reports the new revisions), up to O(wait_timeout) seconds.
    type: bool
    default: true
  wait_step:
    description:
      - The longest this run waits, in seconds, for agents' reports and for the group to be stable. When it
        runs out before the rollout is done, the task returns RV(done=false) (not a failure) and says in
        RV(waiting) what it waits for; a batch already refreshed is checked by the next run before any other VM
        is refreshed. Each run starts at least the next batch, however slow the API, so the rollout always moves.
        Loop the task with C(until) and C(retries) (O(wait_timeout) divided by O(wait_step)), so
        that every step prints a line.
      - V(0) waits up to O(wait_timeout) in one run.
    type: int
    default: 0
extends_documentation_fragment:
  - gce.cos.attributes
  - gce.cos.container_spec.containers
  - gce.cos.gcp
  - gce.cos.gcp.wait
notes:
  - Every option is checked before the first API call; bad sizes, percents, canaries and conflicting options
    fail the task with nothing created, naming the field, the value and the fix.
  - O(wait_timeout) bounds each operation, each batch of an in-place rollout and the final wait for the group.
seealso:
  - name: Managed instance groups
    description: Versions, update policies, autohealing and stateful configuration.
    link: https://cloud.google.com/compute/docs/instance-groups
  - module: gce.cos.cos_container
author:
  - gce.cos maintainers (@gce-cos)
"""

EXAMPLES = r"""
- name: A 3-VM nginx group with autohealing
  gce.cos.cos_instance_group:
    name: web
    zone: us-central1-a
    target_size: 3
    instance_template: web-3f2a9c1d
    named_ports: [{name: http, port: 80}]
    autohealing:
      health_check: web-http
      initial_delay_sec: 120
    update_policy:
      max_surge: "1"
      max_unavailable: "1"
    containers:
      - name: web
        image: nginx:1.27
        ports: ["80"]

- name: A regional group over two zones, with a canary of one VM on a new template
  gce.cos.cos_instance_group:
    name: api
    region: us-central1
    target_zones: [us-central1-a, us-central1-b]
    target_size: 4
    versions:
      - instance_template: api-v1
      - instance_template: api-v2
        target_size: "1"
    update_policy:
      max_surge: "2"
      max_unavailable: "0"

- name: Keep the data disk of each VM across recreation
  gce.cos.cos_instance_group:
    name: db
    zone: us-central1-a
    target_size: 2
    instance_template: db-v1
    stateful_disks: [{device_name: data}]
    update_policy: {replacement_method: RECREATE, max_surge: "0", max_unavailable: "1"}

- name: Roll a new image out, printing a line every 30 seconds until it is done (up to 15 minutes)
  gce.cos.cos_instance_group:
    name: web
    zone: us-central1-a
    target_size: 3
    instance_template: web-3f2a9c1d
    containers:
      - name: web
        image: nginx:1.28
        ports: ["80"]
    wait_step: 30
  register: rollout
  until: rollout.done
  retries: 30
  delay: 1

- name: Delete a group and its VMs
  gce.cos.cos_instance_group:
    name: web
    zone: us-central1-a
    state: absent
"""

RETURN = r"""
group:
  description:
    - The group after the task, as plain data; empty when O(state=absent). In check mode, the group as the run
      would leave it.
  returned: always
  type: dict
  contains:
    name:
      description: The group's name.
      type: str
      sample: web
    zone:
      description: The zone of a zonal group.
      type: str
      sample: us-central1-a
    region:
      description: The region of a regional group.
      type: str
    target_zones:
      description: The zones of a regional group.
      type: list
      elements: str
    target_size:
      description: The number of VMs.
      type: int
      sample: 3
    base_instance_name:
      description: The prefix of the VMs' names.
      type: str
    versions:
      description: The versions (C(instance_template) as a relative path, C(name), C(target_size)).
      type: list
      elements: dict
    named_ports:
      description: The named ports.
      type: list
      elements: dict
    autohealing:
      description: The autohealing policy (C(health_check), C(initial_delay_sec)), or null.
      type: dict
    update_policy:
      description: The update policy, with the options' names.
      type: dict
      sample: {type: PROACTIVE, minimal_action: REPLACE, max_surge: "1", max_unavailable: "1"}
    stateful_disks:
      description: The preserved disks.
      type: list
      elements: dict
    containers:
      description: The containers of the all-instances configuration, by name, as normalised specs.
      type: dict
    status:
      description: C(is_stable), C(version_target_reached) and C(all_instances_config_effective).
      type: dict
    instance_group:
      description: The URL of the instance group the manager manages.
      type: str
rollout:
  description:
    - The in-place container rollout, when there was one.
    - C(batches) lists the VMs of each batch to refresh, C(refreshed_before) the VMs whose metadata already had
      the wanted containers when the run started (checked first), C(updated) those that report the new
      revision, C(pending) those not updated yet. On failure also C(failed_batch) (null while checking the
      VMs refreshed before), C(failed_vm) and C(not_reached), and C(rolled_back) (the VMs of the failed
      batch, back on the containers they ran before) when an agent reported the failure.
  returned: always
  type: dict
  sample: {batches: [[web-a1b2], [web-c3d4]], refreshed_before: [], updated: [web-a1b2, web-c3d4], pending: []}
done:
  description:
    - Whether the task finished its work; false only when O(wait_step) ran out first (run the task again).
  returned: always
  type: bool
  sample: true
waiting:
  description: What the run waits for when RV(done) is false; empty otherwise.
  returned: always
  type: str
  sample: "batch 2 of 3 (web-c3d4): VM web-c3d4: not yet after 30s waiting for the cos agent: ..."
actions:
  description: The API calls the task made (or, in check mode, would make), in order, in words.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.gce.cos.plugins.module_utils._api_helper.code_cache import use_code_cache

use_code_cache()  # before the module_utils below: on the helper path their compiled code is kept
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import GcpModule
from ansible_collections.gce.cos.plugins.module_utils._group.engine import converge
from ansible_collections.gce.cos.plugins.module_utils._group.options import ARGUMENT_RULES, ARGUMENT_SPEC


def main():
    GcpModule(ARGUMENT_SPEC, **ARGUMENT_RULES).run(converge)


if __name__ == "__main__":
    main()
