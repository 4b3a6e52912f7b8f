#!/usr/bin/python
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cos_instance_template
short_description: Versioned instance templates of Container-Optimized OS VMs, with their containers
version_added: 0.2.0
description:
  - Ensures an instance template exists for the machine the options describe - the same machine
    M(gce.cos.cos_instance) makes from the same options (machine type, boot image, disks, network, service
    account and scopes, labels, shielded VM, scheduling, metadata and the cloud-init O(user_data)), plus the
    containers of O(containers), written in metadata as M(gce.cos.cos_container) writes them (one key
    C(cos-container-NAME) per container, which the cos agent runs).
  - Templates cannot be changed, so each version is its own template, named C(PREFIX-HASH). C(HASH) is the
    first 10 hex digits of the SHA-256 of the template's properties as sent (JSON with sorted keys and no
    spaces); they hold the resolved boot image, the machine and disk types, the disks, the network, the
    labels, the service account and every metadata value, C(user-data) and the containers' units included.
    The same options give the same name on every run and every Python version.
  - An unchanged spec finds its version with one list call and reports no change; a changed spec creates a
    new version. An image family is resolved at every run, so a new image in the family makes a new version.
  - It keeps the O(keep) newest versions of the prefix (the one of this run counted) and deletes older ones,
    except those a managed instance group uses (zonal or regional, in any of its versions); those are kept,
    and the result and a warning name the group.
  - Global templates (C(instanceTemplates)) by default, regional ones (C(regionInstanceTemplates)) with
    O(region).
options:
  name_prefix:
    description:
      - The prefix of the versions' names (RFC1035, at most 52 characters); each version is
        C(PREFIX-HASH).
    type: str
    required: true
  region:
    description:
      - The region of a regional template. Without it, the template is global.
    type: str
  state:
    description:
      - V(present) makes the version of these options and deletes older unused versions beyond O(keep).
      - V(absent) deletes every version of the prefix that no group uses, and says which are kept and by whom.
    type: str
    choices: [present, absent]
    default: present
  keep:
    description:
      - How many versions of the prefix to keep, newest first, the current one included. Older versions are
        deleted unless a group uses them.
    type: int
    default: 3
  containers:
    description:
      - The containers every VM of the template runs, each a container spec with the fields of
        M(gce.cos.cos_container)'s O(gce.cos.cos_container#module:containers) entries.
      - They need the cos agent on the VM, which the cloud-init of the C(gce.cos.cos_deploy) role installs;
        pass it as O(user_data).
    type: list
    elements: dict
  machine_type:
    description:
      - The machine type name, for example C(e2-small) or C(n2-custom-2-4096). Default C(e2-medium).
    type: str
  image:
    description:
      - An explicit boot image - a name in O(image_project), C(projects/P/global/images/NAME) or a full URL.
      - Mutually exclusive with O(image_family).
    type: str
  image_family:
    description:
      - The image family whose newest image the template boots. Default C(cos-stable).
      - Resolved at every run; a newer image in the family makes a new version.
    type: str
  image_project:
    description:
      - The project of O(image) or O(image_family).
    type: str
    default: cos-cloud
  boot_disk:
    description:
      - The boot disk each VM gets, created from the image and named after the VM.
    type: dict
    suboptions:
      size_gb:
        description:
          - The size in GB. Default 10 (the size of COS images).
        type: int
      type:
        description:
          - The disk type. Default V(pd-balanced).
        type: str
        choices: [pd-standard, pd-balanced, pd-ssd, pd-extreme, hyperdisk-balanced, hyperdisk-extreme,
                  hyperdisk-throughput, hyperdisk-ml]
      auto_delete:
        description:
          - Whether the boot disk is deleted with the VM. Default V(true).
        type: bool
  disks:
    description:
      - Additional blank persistent disks, one new disk per VM. The cloud-init disk units find a disk at
        C(/dev/disk/by-id/google-DEVICE_NAME).
    type: list
    elements: dict
    suboptions:
      device_name:
        description:
          - The device name the guest sees.
        type: str
        required: true
      size_gb:
        description:
          - The size in GB.
        type: int
        default: 10
      type:
        description:
          - The disk type.
        type: str
        choices: [pd-standard, pd-balanced, pd-ssd, pd-extreme, hyperdisk-balanced, hyperdisk-extreme,
                  hyperdisk-throughput, hyperdisk-ml]
        default: pd-balanced
      mode:
        description:
          - The attachment mode.
        type: str
        choices: [READ_WRITE, READ_ONLY]
        default: READ_WRITE
      auto_delete:
        description:
          - Whether the disk is deleted with the VM.
        type: bool
        default: true
  network:
    description:
      - The VPC network - a name, C(projects/P/global/networks/N) (Shared VPC) or a URL. Default C(default).
    type: str
  subnetwork:
    description:
      - The subnetwork - a name (with O(region)), C(regions/R/subnetworks/S), C(projects/P/regions/R/subnetworks/S)
        or a URL. Default the network's subnetwork of the VM's region (auto-mode networks).
    type: str
  external_ip:
    description:
      - V(ephemeral) for an ephemeral external address per VM, V(none) for none.
    type: str
    choices: [ephemeral, none]
    default: ephemeral
  network_tags:
    description:
      - The network tags, used by firewall rules (see M(gce.cos.cos_firewall)).
    type: list
    elements: str
  labels:
    description:
      - Labels of the VMs. The label C(container-vm) is set to the image name and cannot be given here.
    type: dict
  service_account:
    description:
      - The service account of the VMs and its OAuth scopes. Default the project's default compute service
        account with gcloud's default scopes.
    type: dict
    suboptions:
      email:
        description:
          - The service account's email, V(default), or V(none) for VMs without a service account.
        type: str
      scopes:
        description:
          - Scope URLs or gcloud's aliases, such as C(cloud-platform), C(storage-ro), C(logging-write),
            C(default).
        type: list
        elements: str
  metadata:
    description:
      - Metadata keys and values of the VMs (values are sent as strings, booleans as C(true)/C(false)).
      - Reserved keys are refused - C(user-data) (use O(user_data)), C(google-logging-enabled) (use
        O(google_logging_enabled)), C(cos-container-*) (use O(containers)), and C(gce-container-declaration),
        the deprecated konlet declaration, which the org policy
        C(constraints/compute.managed.disableVmsWithContainerStartupAgent) blocks in templates - give the
        containers in O(containers) instead; M(gce.cos.cos_container) with
        O(gce.cos.cos_container#module:migrate=true) converts a running VM's declaration.
      - Each value may hold 256 KB, and all metadata 512 KB.
    type: dict
  user_data:
    description:
      - The cloud-init document (C(#cloud-config ...)) stored as the metadata key C(user-data).
      - Its content is never returned; the result shows its SHA-256 only.
    type: str
  google_logging_enabled:
    description:
      - Sets the metadata key C(google-logging-enabled), which makes the COS logging agent ship container
        logs to Cloud Logging.
    type: bool
    default: true
  shielded_vm:
    description:
      - Shielded VM settings.
    type: dict
    suboptions:
      secure_boot:
        description:
          - Secure Boot. Default V(false).
        type: bool
      vtpm:
        description:
          - The virtual TPM. Default V(true).
        type: bool
      integrity_monitoring:
        description:
          - Integrity monitoring. Default V(true).
        type: bool
  scheduling:
    description:
      - Scheduling options of the VMs.
    type: dict
    suboptions:
      preemptible:
        description:
          - Legacy preemptible VMs. Prefer O(scheduling.provisioning_model=SPOT).
        type: bool
      provisioning_model:
        description:
          - V(SPOT) for Spot VMs, V(STANDARD) otherwise.
        type: str
        choices: [STANDARD, SPOT]
      on_host_maintenance:
        description:
          - What happens during host maintenance. Default V(MIGRATE), and V(TERMINATE) for Spot and
            preemptible VMs.
        type: str
        choices: [MIGRATE, TERMINATE]
      automatic_restart:
        description:
          - Whether VMs restart after a crash or a maintenance event. Default V(true), V(false) for Spot and
            preemptible VMs.
        type: bool
  description:
    description:
      - A description of the template and of its VMs (part of the version's hash).
    type: str
extends_documentation_fragment:
  - gce.cos.gcp
  - gce.cos.gcp.wait
  - gce.cos.attributes
  - gce.cos.container_spec.containers
notes:
  - Every option is checked before the first API call; bad values fail the task naming the field, the value and
    the fix, with nothing created.
  - A run that changes nothing sends only reads - the image family (with O(image_family)), the list of the
    prefix's versions, and, when there are more versions than O(keep), the managed instance groups.
  - A version that a group starts to use between the look-up and the delete is kept - the delete is refused
    with C(resourceInUseByAnotherResource), and the result names the group.
seealso:
  - module: gce.cos.cos_instance
  - module: gce.cos.cos_container
  - module: gce.cos.cos_health_check
  - name: Instance templates
    description: What templates hold, and why they cannot change.
    link: https://cloud.google.com/compute/docs/instance-templates
author:
  - gce.cos maintainers (@gce-cos)
"""

EXAMPLES = r"""
- name: A template of nginx VMs, its versions named web-HASH; the three newest are kept
  gce.cos.cos_instance_template:
    name_prefix: web
    machine_type: e2-small
    network_tags: [web]
    user_data: "{{ lookup('ansible.builtin.file', 'cloud-init.yaml') }}"
    containers:
      - name: web
        image: nginx:1.27
        ports: ["80"]
  register: template

- name: A regional template with a data disk per VM, keeping five versions
  gce.cos.cos_instance_template:
    name_prefix: api
    region: europe-west1
    keep: 5
    image_family: cos-121-lts
    disks:
      - device_name: data
        size_gb: 50
    containers:
      - name: api
        image: europe-docker.pkg.dev/my-project/apps/api:2.3.0
        volumes:
          - host_path: /mnt/disks/data
            container_path: /data

- name: Remove every version of the prefix that no group uses
  gce.cos.cos_instance_template:
    name_prefix: web
    state: absent
"""

RETURN = r"""
name:
  description: The name of this run's version, C(PREFIX-HASH).
  returned: when O(state=present)
  type: str
  sample: web-3f9c2a81d0
self_link:
  description: The URL of this run's version.
  returned: when O(state=present)
  type: str
  sample: https://www.googleapis.com/compute/v1/projects/my-project/global/instanceTemplates/web-3f9c2a81d0
versions:
  description: The versions of the prefix after the task (in check mode, as the run would leave them).
  returned: always
  type: dict
  contains:
    kept:
      description: The versions that remain, newest first.
      type: list
      elements: str
      sample: [web-3f9c2a81d0, web-0b1e7c44a2]
    deleted:
      description: The versions deleted (or, in check mode, to delete).
      type: list
      elements: str
      sample: [web-77aa01c3e9]
    in_use:
      description: Versions kept although older than O(keep) (or O(state=absent)), with the groups that use them.
      type: dict
      sample: {web-77aa01c3e9: [projects/my-project/zones/us-central1-a/instanceGroupManagers/web]}
properties:
  description:
    - This run's version as plain data - names instead of URLs, metadata values other than a few public flags
      as SHA-256 digests, and each container's image and revision.
  returned: when O(state=present)
  type: dict
  sample:
    machine_type: e2-small
    image: cos-121-18867-90-38
    containers: {web: {image: "nginx:1.27", revision: 3e8a7f7d7cf0a2b1}}
    network_tags: [web]
actions:
  description: The API calls the task made (or, in check mode, would make), in order, in words.
  returned: always
  type: list
  elements: str
  sample: ["create instance template 'web-3f9c2a81d0' (e2-small, image cos-121-18867-90-38, containers web)"]
"""

from ansible_collections.gce.cos.plugins.module_utils._api_helper.code_cache import use_code_cache

use_code_cache()  # before the module_utils below: on the helper path their compiled code is kept
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import GcpModule
from ansible_collections.gce.cos.plugins.module_utils._template.engine import converge
from ansible_collections.gce.cos.plugins.module_utils._template.options import ARGUMENT_RULES, ARGUMENT_SPEC


def main():
    GcpModule(ARGUMENT_SPEC, **ARGUMENT_RULES).run(converge)


if __name__ == "__main__":
    main()
