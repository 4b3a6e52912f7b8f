#!/usr/bin/python
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cos_instance
short_description: Create, update, power and delete Compute Engine VMs running Container-Optimized OS
version_added: 0.1.0
description:
  - Ensures a Compute Engine instance booted from a Container-Optimized OS (COS) image exists with the
    given settings, in the given power state, or is deleted.
  - A missing instance is created the way C(gcloud compute instances create) and the Console create a COS
    VM - the image family is resolved to a concrete image at creation, the label C(container-vm) is set to
    that image's name, and the metadata key C(google-logging-enabled) is set.
  - An existing instance is reconciled in place with the API's own methods - setMetadata, setLabels, setTags,
    attachDisk, detachDisk, setDiskAutoDelete, disks.resize (boot disk growth), setDeletionProtection,
    deleteAccessConfig and addAccessConfig (external IP), setScheduling, updateShieldedInstanceConfig and
    instances.update (description), each waited on.
  - The machine type, the service account, the provisioning model (Spot or standard) and the shielded VM
    settings change only while the VM is stopped, so on a running VM they need
    O(allow_stopping_for_update=true).
  - Changes the API cannot make in place (zone, boot image, the network, subnetwork and internal IP of the
    network interface, preemptibility, a disk's mode or device name) fail with a message naming the field;
    the module never deletes and recreates a VM on its own.
  - Options left unset are not compared with an existing instance; their creation defaults apply only to
    a new instance. So an existing VM is never changed because an image family moved on.
  - Options compare only what was set - an omitted option is left as the instance has it.
  - Containers are deployed with M(gce.cos.cos_container), not here - the metadata keys C(cos-container-*)
    belong to it and are never changed by this module, even with O(metadata_mode=replace).
options:
  name:
    description:
      - The name of the instance (RFC1035, 1-63 characters).
    type: str
    required: true
  zone:
    description:
      - The zone of the instance, for example C(us-central1-a).
      - An instance cannot move to another zone - if an instance of this name exists in another zone, the
        module fails instead of creating a second one.
    type: str
    required: true
  state:
    description:
      - V(present) creates the instance if it is missing (it then runs) and reconciles it if it exists,
        leaving its power state as it is.
      - V(started) is V(present), then starts the instance if it is stopped.
      - V(stopped) is V(present), then stops the instance if it runs (a missing instance is created, then
        stopped).
      - V(restarted) is V(present), then stops and starts the instance (a clean shutdown, not the hard
        reset of C(gcloud compute instances reset)), so that the guest shuts its containers down and
        cloud-init runs again. It always reports a change, unless the instance was just created.
      - V(absent) deletes the instance. With deletion protection on, the module fails unless
        O(deletion_protection=false) is given too, which then turns it off first.
    type: str
    default: present
    choices: [present, absent, started, stopped, restarted]
  machine_type:
    description:
      - The machine type name, for example C(e2-small) or C(n2-custom-2-4096).
      - At creation the default is C(e2-medium), as for C(gcloud compute instances create).
      - Changing it on an existing running instance needs O(allow_stopping_for_update=true).
    type: str
  image:
    description:
      - An explicit boot image - a name in O(image_project), C(projects/P/global/images/NAME) or a full URL.
      - Used at creation only. On an existing instance a different image is refused (the boot disk
        cannot be re-imaged in place); it is compared with the C(container-vm) label.
      - Mutually exclusive with O(image_family).
    type: str
  image_family:
    description:
      - The image family whose newest image is used at creation. Default C(cos-stable).
      - Other COS families are C(cos-beta), C(cos-dev), C(cos-NNN-lts) and their C(cos-arm64-*) twins.
      - Resolved only when the instance is created; an existing instance is never changed because the
        family has a newer image.
    type: str
  image_project:
    description:
      - The project of O(image) or O(image_family).
    type: str
    default: cos-cloud
  boot_disk:
    description:
      - The boot disk, created with the instance from the image.
    type: dict
    suboptions:
      name:
        description:
          - The boot disk's name. Default the instance name.
        type: str
      size_gb:
        description:
          - The size in GB. Default 10 (the size of COS images).
          - On an existing instance a larger size grows the disk (disks.resize); shrinking is refused.
            COS grows the root filesystem at the next boot.
        type: int
      type:
        description:
          - The disk type. Default V(pd-balanced), as the Console creates it.
          - Used at creation only; it is not compared with an existing disk.
        type: str
        choices: [pd-standard, pd-balanced, pd-ssd, pd-extreme, hyperdisk-balanced, hyperdisk-extreme,
                  hyperdisk-throughput, hyperdisk-ml]
      auto_delete:
        description:
          - Whether the boot disk is deleted with the instance. Default V(true).
          - Changed in place on an existing instance (setDiskAutoDelete).
        type: bool
  disks:
    description:
      - The additional persistent disks, which must exist in the same zone (see M(gce.cos.cos_disk)).
      - When set, this is the complete list - disks attached to an existing instance and missing here are
        detached, disks listed and not attached are attached. When not set, attached disks are left alone.
      - The cloud-init disk units find a disk at C(/dev/disk/by-id/google-DEVICE_NAME).
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - The disk's name.
        type: str
        required: true
      device_name:
        description:
          - The device name the guest sees. Default the disk name.
        type: str
      mode:
        description:
          - The attachment mode.
        type: str
        choices: [READ_WRITE, READ_ONLY]
        default: READ_WRITE
      auto_delete:
        description:
          - Whether the disk is deleted with the instance. Changed in place on an attached disk.
        type: bool
        default: false
  network:
    description:
      - The VPC network of the instance's network interface - a name, C(projects/P/global/networks/N) (Shared
        VPC) or a URL. Default C(default).
      - Cannot change on an existing instance.
    type: str
  subnetwork:
    description:
      - The subnetwork, in the zone's region - a name, C(projects/P/regions/R/subnetworks/S) or a URL.
        Default the network's subnetwork of the region (auto-mode networks).
      - Cannot change on an existing instance.
    type: str
  internal_ip:
    description:
      - A fixed internal IPv4 address in the subnetwork. Default an address the API picks.
      - Cannot change on an existing instance.
    type: str
  external_ip:
    description:
      - V(ephemeral) (the default at creation), V(none) for no external address, or a reserved static
        external address of the zone's region - its name or its IPv4 address (as shown by
        C(gcloud compute addresses describe)).
      - Changed in place on an existing instance, running or not - the current access config is removed
        (deleteAccessConfig) and the new one added (addAccessConfig), as
        C(gcloud compute instances delete-access-config/add-access-config) do. V(ephemeral) replaces a static
        address with an ephemeral one, and keeps any ephemeral address the instance has.
      - A static address must exist and not be used by another instance; otherwise the module fails before
        any change.
    type: str
  network_tags:
    description:
      - The network tags, used by firewall rules (see M(gce.cos.cos_firewall)).
      - When set, this is the complete list; tags not listed are removed. Order does not matter.
    type: list
    elements: str
  labels:
    description:
      - Labels of the instance.
      - The label C(container-vm) is kept by the module (set to the image name at creation, like gcloud) and
        cannot be given here.
    type: dict
  purge_labels:
    description:
      - Whether labels of the instance that are not in O(labels) are removed (C(container-vm) is always
        kept). Ignored when O(labels) is not set.
    type: bool
    default: true
  service_account:
    description:
      - The service account of the VM and its OAuth scopes.
      - At creation the default is the project's default compute service account with gcloud's default
        scopes (storage read-only, logging and monitoring write, Pub/Sub, service management read-only,
        service control, trace).
      - Changing it on an existing running instance needs O(allow_stopping_for_update=true).
    type: dict
    suboptions:
      email:
        description:
          - The service account's email, V(default) for the default compute service account, or V(none)
            for a VM without a service account (then O(service_account.scopes) must be empty).
        type: str
      scopes:
        description:
          - Scope URLs (C(https://www.googleapis.com/auth/...)) or gcloud's aliases, such as
            C(cloud-platform), C(storage-ro), C(logging-write), C(monitoring-write), C(pubsub),
            C(service-control), C(service-management), C(trace), C(compute-ro), C(default).
          - Not compared when not set; when only O(service_account.email) changes, the scopes are kept.
        type: list
        elements: str
  metadata:
    description:
      - Instance metadata keys and values (values are sent as strings, booleans as C(true)/C(false)).
      - Reserved keys are refused here - C(user-data) (use O(user_data)), C(google-logging-enabled) (use
        O(google_logging_enabled)), C(gce-container-declaration) (the deprecated konlet agent; move the
        container to M(gce.cos.cos_container)) and C(cos-container-*) (owned by M(gce.cos.cos_container)).
      - Each value may hold 256 KB, and all metadata of the instance 512 KB.
    type: dict
  metadata_mode:
    description:
      - V(merge) sets the given keys and leaves the instance's other keys (set by other tools) alone.
      - V(replace) removes every key not given here, except C(cos-container-*) and, when O(user_data) is
        not set, C(user-data).
    type: str
    choices: [merge, replace]
    default: merge
  user_data:
    description:
      - The cloud-init document (C(#cloud-config ...)) stored as the metadata key C(user-data).
      - COS runs it at every boot. Changing it on a running VM takes effect at the next boot - the result's
        RV(pending_boot) and a warning say so - unless O(restart_for_user_data=true) (or O(state=restarted)).
      - An empty string removes the key. When not set, the key is left as it is.
      - A C(#cloud-config) document may only use the keys COS's cloud-init acts on (C(bootcmd),
        C(write_files), C(runcmd), C(users), C(groups), C(user) and C(final_message)); any other key
        (C(packages), C(mounts), C(disk_setup), C(ssh_authorized_keys), ...) would be silently ignored on the
        VM, so it is refused before any API call, naming the key.
      - The result's RV(instance) shows its SHA-256 only. When it changes, the diff shows it before and after,
        line by line, as any reader of the instance's metadata can see it - keep secrets out of it (Secret
        Manager references, as the M(gce.cos.cos_container) specs and the gce.cos.cos_deploy role use).
    type: str
  google_logging_enabled:
    description:
      - Sets the metadata key C(google-logging-enabled), which makes the COS logging agent ship container
        logs to Cloud Logging, as gcloud does for COS VMs.
      - V(false) writes C(false), which turns logging off even when project metadata turns it on.
    type: bool
    default: true
  shielded_vm:
    description:
      - Shielded VM settings. COS supports all three.
      - On an existing instance the settings given are changed with updateShieldedInstanceConfig, which needs
        a stopped VM - on a running one only with O(allow_stopping_for_update=true).
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
  deletion_protection:
    description:
      - Whether the instance is protected against deletion. Default V(false) at creation.
      - Changed in place on an existing instance.
    type: bool
  scheduling:
    description:
      - Scheduling options.
      - On an existing instance they change with setScheduling. O(scheduling.on_host_maintenance) and
        O(scheduling.automatic_restart) change on a running VM; O(scheduling.provisioning_model) needs a
        stopped VM (on a running one, O(allow_stopping_for_update=true)). O(scheduling.preemptible) cannot
        change - a different value fails.
      - When the provisioning model changes, the options not given take the new model's defaults.
    type: dict
    suboptions:
      preemptible:
        description:
          - A legacy preemptible VM. Prefer O(scheduling.provisioning_model=SPOT).
        type: bool
      provisioning_model:
        description:
          - V(SPOT) for a Spot VM, V(STANDARD) otherwise.
        type: str
        choices: [STANDARD, SPOT]
      on_host_maintenance:
        description:
          - What happens during host maintenance. Default V(MIGRATE), and V(TERMINATE) for Spot and
            preemptible VMs (which cannot migrate).
        type: str
        choices: [MIGRATE, TERMINATE]
      automatic_restart:
        description:
          - Whether the VM restarts after a crash or a maintenance event. Default V(true), and V(false) for
            Spot and preemptible VMs (which cannot restart automatically).
        type: bool
  description:
    description:
      - A description of the instance.
      - Changed in place on an existing instance (instances.update with the instance fingerprint; no restart).
    type: str
  allow_stopping_for_update:
    description:
      - Allows the module to stop a running instance to change O(machine_type), O(service_account),
        O(scheduling.provisioning_model) or O(shielded_vm), then start it again (unless O(state=stopped)).
      - Without it, such a change fails with a message naming the field.
    type: bool
    default: false
  restart_for_user_data:
    description:
      - When O(user_data) changes on a running instance, stop and start it once after the change, so that
        cloud-init applies the new document now (everything on the VM is down meanwhile).
      - Without it the change waits for the next boot, and the result (RV(pending_boot)) and a warning say so.
      - No extra restart is made when the task stops the VM anyway, or when it ends stopped.
    type: bool
    default: false
  require_agent:
    description:
      - Fail, before any change, when the new O(user_data) installs the cos agent on a running instance whose
        user-data had none (an instance made by gcloud, the Console or this module without the agent) and
        O(restart_for_user_data) is false - the agent would start only at the next boot, so no container
        M(gce.cos.cos_container) writes would run until then.
      - The gce.cos.cos_deploy role sets it.
    type: bool
    default: false
extends_documentation_fragment:
  - gce.cos.gcp
  - gce.cos.gcp.wait
  - gce.cos.attributes
notes:
  - A second run with the same options reads the instance once and changes nothing (with O(external_ip) set to
    a static address or V(ephemeral), it also looks the address up once).
  - Metadata changes read-modify-write with the metadata fingerprint; a concurrent change by another writer
    makes the module read again and retry once. Labels, network tags and the description (the instance
    fingerprint) are written the same way.
seealso:
  - module: gce.cos.cos_instance_info
  - module: gce.cos.cos_disk
  - module: gce.cos.cos_firewall
  - module: gce.cos.cos_container
author:
  - gce.cos maintainers (@gce-cos)
"""

EXAMPLES = r"""
- name: A COS VM from the cos-stable family, with a cloud-init document
  gce.cos.cos_instance:
    name: web-1
    zone: us-central1-a
    machine_type: e2-small
    network_tags: [web]
    labels:
      app: web
    user_data: |
      #cloud-config
      write_files:
        - path: /etc/motd
          content: managed by gce.cos
  register: web

- name: Show the VM's external address
  ansible.builtin.debug:
    msg: "{{ web.instance.external_ip }}"

- name: A Spot VM on an LTS image, with a data disk, no external address and a dedicated service account
  gce.cos.cos_instance:
    name: worker-1
    zone: us-central1-a
    image_family: cos-121-lts
    boot_disk:
      size_gb: 20
      type: pd-ssd
    disks:
      - name: worker-1-data
        device_name: data
    external_ip: none
    service_account:
      email: default
      scopes: [cloud-platform]
    scheduling:
      provisioning_model: SPOT
    shielded_vm:
      secure_boot: true
    deletion_protection: true

- name: Add a metadata key, leaving the others alone
  gce.cos.cos_instance:
    name: web-1
    zone: us-central1-a
    metadata:
      enable-guest-attributes: "TRUE"

- name: Drop the external address and stop (not migrate) on host maintenance - in place, while it runs
  gce.cos.cos_instance:
    name: web-1
    zone: us-central1-a
    external_ip: none
    scheduling:
      on_host_maintenance: TERMINATE

- name: Resize the VM (it is stopped and started again)
  gce.cos.cos_instance:
    name: web-1
    zone: us-central1-a
    machine_type: e2-medium
    allow_stopping_for_update: true

- name: Stop it
  gce.cos.cos_instance:
    name: web-1
    zone: us-central1-a
    state: stopped

- name: Delete them
  gce.cos.cos_instance:
    name: "{{ item }}"
    zone: us-central1-a
    state: absent
    deletion_protection: false
  loop: [web-1, worker-1]
"""

RETURN = r"""
instance:
  description:
    - The instance as plain data, as it is after the task (in check mode, as it would be).
    - Metadata values are shown only for a few non-sensitive keys (such as C(google-logging-enabled)); every
      other value appears as C(sha256:) and its first 16 hex digits, so that a change is visible without the
      content. C(user-data) is never shown.
    - Empty after O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: The instance name.
      type: str
      sample: web-1
    zone:
      description: The zone.
      type: str
      sample: us-central1-a
    status:
      description: The instance status (C(RUNNING), C(TERMINATED), ...).
      type: str
      sample: RUNNING
    machine_type:
      description: The machine type name.
      type: str
      sample: e2-small
    image:
      description: The boot image name (the C(container-vm) label), if known.
      type: str
      sample: cos-stable-121-18867-199-28
    internal_ip:
      description: The internal IPv4 address. Not known in check mode before creation.
      type: str
      sample: 10.128.0.2
    external_ip:
      description:
        - The external IPv4 address, or null without one.
        - In check mode, an ephemeral address still to be added shows as V(ephemeral).
      type: str
      sample: 34.30.1.2
    network:
      description: The network name.
      type: str
      sample: default
    subnetwork:
      description: The subnetwork name.
      type: str
      sample: default
    boot_disk:
      description: The boot disk (C(name), C(device_name), C(size_gb), C(auto_delete)).
      type: dict
      sample: {name: web-1, device_name: persistent-disk-0, size_gb: 10, auto_delete: true}
    disks:
      description: The additional disks (C(name), C(device_name), C(mode), C(auto_delete)), by name.
      type: list
      elements: dict
      sample: [{name: data, device_name: data, mode: READ_WRITE, auto_delete: false}]
    labels:
      description: The labels.
      type: dict
      sample: {app: web, container-vm: cos-stable-121-18867-199-28}
    network_tags:
      description: The network tags, sorted.
      type: list
      elements: str
      sample: [web]
    metadata_keys:
      description: The metadata keys, sorted.
      type: list
      elements: str
      sample: [google-logging-enabled, user-data]
    metadata:
      description: Metadata values of non-sensitive keys, and a digest of the others.
      type: dict
      sample: {google-logging-enabled: "true", user-data: "sha256:0123456789abcdef"}
    service_account:
      description: The service account (C(email), C(scopes)), or null.
      type: dict
    scheduling:
      description: C(preemptible), C(provisioning_model), C(on_host_maintenance), C(automatic_restart).
      type: dict
    shielded_vm:
      description: C(secure_boot), C(vtpm), C(integrity_monitoring).
      type: dict
    deletion_protection:
      description: Whether deletion protection is on.
      type: bool
    description:
      description: The description.
      type: str
    self_link:
      description: The instance's URL. Not known in check mode before creation.
      type: str
image:
  description: The name of the boot image - resolved from the family at creation, else the C(container-vm) label.
  returned: when known
  type: str
  sample: cos-stable-121-18867-199-28
actions:
  description: One line per API change made (or, in check mode, that would be made), in order.
  returned: always
  type: list
  elements: str
  sample: ["set labels of instance 'web-1': app=web", "set metadata of instance 'web-1': change user-data"]
pending_boot:
  description:
    - Whether the task changed (in check mode, would change) the user-data of a running instance without
      restarting it, so that cloud-init applies it only at the next boot (see O(restart_for_user_data)).
  returned: always
  type: bool
  sample: false
diff:
  description:
    - Before and after summaries of the instance, in the form of RV(instance) (without its status-only fields
      C(internal_ip), C(external_ip) and C(self_link) after a creation).
    - When O(user_data) changes on an existing instance, C(user_data) holds the document before and after, as a
      list of lines.
  returned: always
  type: dict
"""

from ansible_collections.gce.cos.plugins.module_utils._api_helper.code_cache import use_code_cache

use_code_cache()  # before the module_utils below: on the helper path their compiled code is kept
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import GcpModule
from ansible_collections.gce.cos.plugins.module_utils._instance.engine import converge
from ansible_collections.gce.cos.plugins.module_utils._instance.options import ARGUMENT_RULES, ARGUMENT_SPEC


def main():
    GcpModule(ARGUMENT_SPEC, **ARGUMENT_RULES).run(converge)


if __name__ == "__main__":
    main()
