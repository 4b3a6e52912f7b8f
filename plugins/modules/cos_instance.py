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
      - COS runs it at every boot. Changing it on a running VM takes effect at the next boot (see
        O(state=restarted)).
      - An empty string removes the key. When not set, the key is left as it is.
      - Its content is never returned; the result shows its SHA-256 only.
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
extends_documentation_fragment:
  - gce.cos.gcp
  - gce.cos.gcp.wait
attributes:
  check_mode:
    support: full
    description: Check mode reports the same plan (O(ignore:actions), C(changed), C(diff)) without running it.
  diff_mode:
    support: full
    description: The diff is a before/after summary of the instance, without metadata values.
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
diff:
  description: Before and after summaries of the instance, in the form of RV(instance) (without its status-only
    fields C(internal_ip), C(external_ip) and C(self_link) after a creation).
  returned: always
  type: dict
"""

import copy
import hashlib
import ipaddress
import re
import time

from ansible_collections.gce.cos.plugins.module_utils.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils.gcp_metadata import (
    items_of,
    merged,
    metadata_dict,
    set_metadata,
    size_errors,
    total_error,
    value_error,
)
from ansible_collections.gce.cos.plugins.module_utils.gcp_module import GcpModule
from ansible_collections.gce.cos.plugins.module_utils.gcp_names import (
    basename,
    labels_errors,
    name_error,
    qualify,
    region_of,
    relative,
    zone_error,
)
from ansible_collections.gce.cos.plugins.module_utils.gcp_operations import with_fresh_fingerprint
from ansible_collections.gce.cos.plugins.module_utils.gcp_plan import Plan

# gcloud's creation defaults for a COS VM (the Console's for the boot disk type).
DEFAULT_MACHINE_TYPE = "e2-medium"
DEFAULT_IMAGE_FAMILY = "cos-stable"
DEFAULT_BOOT_SIZE_GB = 10
DEFAULT_BOOT_TYPE = "pd-balanced"
AUTH = "https://www.googleapis.com/auth/"
DEFAULT_SCOPES = sorted(
    AUTH + s
    for s in (
        "devstorage.read_only",
        "logging.write",
        "monitoring.write",
        "pubsub",
        "service.management.readonly",
        "servicecontrol",
        "trace.append",
    )
)
SCOPE_ALIASES = {
    "bigquery": "bigquery",
    "cloud-platform": "cloud-platform",
    "cloud-source-repos": "source.full_control",
    "cloud-source-repos-ro": "source.read_only",
    "compute-ro": "compute.readonly",
    "compute-rw": "compute",
    "datastore": "datastore",
    "logging-write": "logging.write",
    "monitoring": "monitoring",
    "monitoring-read": "monitoring.read",
    "monitoring-write": "monitoring.write",
    "pubsub": "pubsub",
    "service-control": "servicecontrol",
    "service-management": "service.management.readonly",
    "sql-admin": "sqlservice.admin",
    "storage-full": "devstorage.full_control",
    "storage-ro": "devstorage.read_only",
    "storage-rw": "devstorage.read_write",
    "taskqueue": "taskqueue",
    "trace": "trace.append",
    "userinfo-email": "userinfo.email",
}

IMAGE_LABEL = "container-vm"
USER_DATA = "user-data"
LOGGING = "google-logging-enabled"
KONLET = "gce-container-declaration"
CONTAINER_PREFIX = "cos-container-"
# Metadata values shown as they are in results and diffs; the others only as a digest.
PUBLIC_METADATA = (
    LOGGING,
    "google-monitoring-enabled",
    "enable-guest-attributes",
    "enable-oslogin",
    "block-project-ssh-keys",
    "serial-port-enable",
    "cos-update-strategy",
)
# What to do when the metadata outgrows the instance (the end of gcp_metadata's size errors).
SIZE_HINT = "Make user_data or the metadata values smaller"

MACHINE_TYPE_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
METADATA_KEY_RE = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
DEVICE_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
ADDRESS_NAME_RE = DEVICE_NAME_RE  # RFC1035, as every resource name
ACCESS_CONFIG = "External NAT"  # the access config name gcloud and the Console use
RUNNING = ("PROVISIONING", "STAGING", "RUNNING", "REPAIRING")
SCHEDULING_OPTIONS = ("preemptible", "provisioning_model", "on_host_maintenance", "automatic_restart")
SHIELDED_OPTIONS = (
    ("secure_boot", "enableSecureBoot"),
    ("vtpm", "enableVtpm"),
    ("integrity_monitoring", "enableIntegrityMonitoring"),
)
STOPPED = ("TERMINATED", "STOPPED")


# -- input -----------------------------------------------------------------------------------
def metadata_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def normalise_scope(scope):
    if scope.startswith("https://"):
        return scope
    return AUTH + SCOPE_ALIASES[scope]


def normalise_scopes(scopes):
    out = set()
    for scope in scopes:
        if scope == "default":
            out.update(DEFAULT_SCOPES)
        else:
            out.add(normalise_scope(scope))
    return sorted(out)


def machine_type_name(value, zone):
    """e2-small from a name, zones/Z/machineTypes/X or a URL; None when the form is wrong."""
    path = relative(value)
    if "/" in path:
        parts = path.split("/")
        if len(parts) < 4 or parts[-2] != "machineTypes" or parts[-4] != "zones" or parts[-3] != zone:
            return None
        path = parts[-1]
    return path if MACHINE_TYPE_RE.match(path) else None


def validate(p):
    """Every input error, before any API call."""
    errors = [name_error("name", p["name"], "instance name"), zone_error("zone", p["zone"])]
    if p["state"] == "absent":
        return [e for e in errors if e]
    zone = p["zone"]
    if p["machine_type"] is not None and machine_type_name(p["machine_type"], zone) is None:
        errors.append(
            "machine_type: %r is not a machine type of zone %s: use a name such as e2-small or "
            "n2-custom-2-4096" % (p["machine_type"], zone)
        )
    if p["image"] is not None and not basename(relative(p["image"])):
        errors.append("image: %r is not an image name or path" % p["image"])
    if p["image_family"] is not None:
        errors.append(name_error("image_family", p["image_family"], "image family name"))
    boot = p["boot_disk"] or {}
    if boot.get("name") is not None:
        errors.append(name_error("boot_disk.name", boot["name"], "disk name"))
    size = boot.get("size_gb")
    if size is not None and not 1 <= size <= 65536:
        errors.append("boot_disk.size_gb: %s is not a possible disk size: use 10 to 65536 (GB)" % size)
    elif size is not None and size < DEFAULT_BOOT_SIZE_GB and p["image_project"] == "cos-cloud":
        errors.append("boot_disk.size_gb: %s GB is smaller than COS images (10 GB): use at least 10" % size)
    names, devices = set(), set()
    boot_name = boot.get("name") or p["name"]
    for i, disk in enumerate(p["disks"] or []):
        field = "disks[%d]" % i
        errors.append(name_error(field + ".name", disk["name"], "disk name"))
        device = disk["device_name"] or disk["name"]
        if disk["device_name"] is not None and not (isinstance(device, str) and DEVICE_NAME_RE.match(device)):
            errors.append("%s.device_name: %r is not a valid device name (RFC1035)" % (field, device))
        if disk["name"] in names:
            errors.append("%s.name: disk %r is listed twice" % (field, disk["name"]))
        if device in devices:
            errors.append("%s.device_name: device name %r is used twice" % (field, device))
        if disk["name"] == boot_name:
            errors.append("%s.name: %r is the boot disk's name" % (field, disk["name"]))
        names.add(disk["name"])
        devices.add(device)
    for field in ("network", "subnetwork"):
        if p[field] is not None:
            errors.append(name_error(field, basename(relative(p[field])), field + " name"))
    if p["internal_ip"] is not None and not _ipv4(p["internal_ip"]):
        errors.append("internal_ip: %r is not an IPv4 address" % p["internal_ip"])
    ext = p["external_ip"]
    if ext is not None and ext not in ("ephemeral", "none") and not _ipv4(ext) and not ADDRESS_NAME_RE.match(ext):
        errors.append(
            "external_ip: %r is not valid: use ephemeral, none, or a reserved static address - its name or its "
            "IPv4 address" % ext
        )
    for tag in p["network_tags"] or []:
        errors.append(name_error("network_tags", tag, "network tag"))
    errors.extend(labels_errors("labels", p["labels"]))
    if IMAGE_LABEL in (p["labels"] or {}):
        errors.append(
            "labels.%s: this label is set by the module to the boot image's name, as gcloud does: remove it"
            % IMAGE_LABEL
        )
    errors.extend(metadata_errors(p))
    sa = p["service_account"] or {}
    email = sa.get("email")
    if email is not None and email not in ("default", "none") and "@" not in email:
        errors.append(
            "service_account.email: %r is not a service account email: use NAME@PROJECT.iam.gserviceaccount.com, "
            "default or none" % email
        )
    if email == "none" and sa.get("scopes"):
        errors.append("service_account.scopes: a VM without a service account (email: none) has no scopes")
    for scope in sa.get("scopes") or []:
        if scope != "default" and not scope.startswith(AUTH) and scope not in SCOPE_ALIASES:
            errors.append(
                "service_account.scopes: %r is neither a scope URL (%s...) nor one of the aliases %s"
                % (scope, AUTH, ", ".join(sorted(SCOPE_ALIASES)))
            )
    errors.extend(scheduling_errors(p["scheduling"] or {}))
    return [e for e in errors if e]


def _ipv4(value):
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        return False


def metadata_errors(p):
    errors = []
    given = {}
    for key, value in sorted((p["metadata"] or {}).items()):
        field = "metadata.%s" % key
        if key == USER_DATA:
            errors.append("%s: set the cloud-init document with the user_data option, not in metadata" % field)
        elif key == LOGGING:
            errors.append("%s: use the google_logging_enabled option (true or false)" % field)
        elif key == KONLET:
            errors.append(
                "%s: the konlet container agent is deprecated and not used by gce.cos: deploy the container "
                "with gce.cos.cos_container (its migrate option converts an existing declaration)" % field
            )
        elif key.startswith(CONTAINER_PREFIX):
            errors.append("%s: keys cos-container-* belong to gce.cos.cos_container: set containers there" % field)
        elif not METADATA_KEY_RE.match(key):
            errors.append("%s: a metadata key has 1-128 letters, digits, '-' and '_'" % field)
        value = metadata_value(value)
        if not isinstance(value, str):
            errors.append("%s: the value must be a string, not %s" % (field, type(value).__name__))
            continue
        errors.append(value_error(field, value))
        given[key] = value
    if p["user_data"] is not None:
        errors.append(value_error("user_data", p["user_data"]))
        given[USER_DATA] = p["user_data"]
    errors.append(total_error(given, "instance %r" % p["name"], hint=SIZE_HINT))
    return errors


def scheduling_errors(s):
    errors = []
    spot = s.get("provisioning_model") == "SPOT"
    if s.get("preemptible") and s.get("provisioning_model"):
        errors.append(
            "scheduling: preemptible and provisioning_model conflict: use provisioning_model: SPOT alone "
            "(preemptible is the legacy form)"
        )
    if spot or s.get("preemptible"):
        what = "Spot" if spot else "preemptible"
        if s.get("on_host_maintenance") == "MIGRATE":
            errors.append("scheduling.on_host_maintenance: a %s VM cannot migrate: use TERMINATE" % what)
        if s.get("automatic_restart"):
            errors.append("scheduling.automatic_restart: a %s VM cannot restart automatically: use false" % what)
    return errors


# -- plain data --------------------------------------------------------------------------------
def digest(value):
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def summarize(inst):
    """The instance as the module shows it: names instead of URLs, no metadata secrets."""
    if not inst:
        return {}
    nics = inst.get("networkInterfaces") or [{}]
    nic = nics[0]
    access = nic.get("accessConfigs") or []
    disks = inst.get("disks") or []
    boot = next((d for d in disks if d.get("boot")), None)
    metadata = metadata_dict(inst)
    sched = inst.get("scheduling") or {}
    shielded = inst.get("shieldedInstanceConfig") or {}
    accounts = inst.get("serviceAccounts") or []
    labels = inst.get("labels") or {}
    out = {
        "name": inst.get("name"),
        "zone": basename(inst.get("zone")),
        "status": inst.get("status"),
        "machine_type": basename(inst.get("machineType")),
        "image": labels.get(IMAGE_LABEL),
        "internal_ip": nic.get("networkIP"),
        "external_ip": access[0].get("natIP") if access else None,
        "network": basename(nic.get("network")),
        "subnetwork": basename(nic.get("subnetwork")),
        "boot_disk": None,
        "disks": sorted(
            (
                {
                    "name": basename(d.get("source")),
                    "device_name": d.get("deviceName"),
                    "mode": d.get("mode", "READ_WRITE"),
                    "auto_delete": bool(d.get("autoDelete")),
                }
                for d in disks
                if not d.get("boot")
            ),
            key=lambda d: d["name"],
        ),
        "labels": dict(labels),
        "network_tags": sorted((inst.get("tags") or {}).get("items") or []),
        "metadata_keys": sorted(metadata),
        "metadata": {k: (v if k in PUBLIC_METADATA else digest(v)) for k, v in sorted(metadata.items())},
        "service_account": (
            {"email": accounts[0].get("email"), "scopes": sorted(accounts[0].get("scopes") or [])} if accounts else None
        ),
        "scheduling": {
            "preemptible": bool(sched.get("preemptible", False)),
            "provisioning_model": sched.get("provisioningModel", "STANDARD"),
            "on_host_maintenance": sched.get("onHostMaintenance", "MIGRATE"),
            "automatic_restart": bool(sched.get("automaticRestart", True)),
        },
        "shielded_vm": {
            "secure_boot": bool(shielded.get("enableSecureBoot", False)),
            "vtpm": bool(shielded.get("enableVtpm", True)),
            "integrity_monitoring": bool(shielded.get("enableIntegrityMonitoring", True)),
        },
        "deletion_protection": bool(inst.get("deletionProtection", False)),
        "description": inst.get("description", ""),
        "self_link": inst.get("selfLink"),
    }
    if boot:
        out["boot_disk"] = {
            "name": basename(boot.get("source")),
            "device_name": boot.get("deviceName"),
            "size_gb": int(boot["diskSizeGb"]) if boot.get("diskSizeGb") else None,
            "auto_delete": bool(boot.get("autoDelete")),
        }
    return out


# -- the module --------------------------------------------------------------------------------
class CosInstance:
    def __init__(self, gcp):
        self.gcp = gcp
        self.p = gcp.params
        self.name = self.p["name"]
        self.zone = self.p["zone"]
        self.what = "instance %r in %s" % (self.name, self.zone)
        self.short = "instance %r" % self.name
        self.refusals = []
        self.image = None

    @property
    def project(self):
        return self.gcp.api.project

    # API helpers --------------------------------------------------------------------------
    def read(self):
        return self.gcp.api.get(
            "instances", "read", self.what, project=self.project, zone=self.zone, instance=self.name
        )

    def must_read(self):
        inst = self.read()
        if inst is None:
            raise GcpError("read %s failed: the instance disappeared while the task ran; re-run the task" % self.what)
        return inst

    def instance_call(self, method, action, **fields):
        return self.gcp.mutate("instances", method, action, self.what, zone=self.zone, instance=self.name, **fields)

    def elsewhere(self):
        """The zone of another instance of this name, if any (an instance cannot change zone)."""
        pager = self.gcp.api.call(
            "instances",
            "aggregated_list",
            "look up",
            "instances named %r" % self.name,
            project=self.project,
            filter="name = %s" % self.name,
        )
        try:
            for _scope, scoped in pager:
                for inst in scoped.instances:
                    if inst.name == self.name and basename(inst.zone) != self.zone:
                        return basename(inst.zone)
        except Exception as exc:
            raise self.gcp.api.translate(exc, "look up", "instances named %r" % self.name)
        return None

    # desired state -------------------------------------------------------------------------
    def desired_metadata(self, current):
        """The full metadata mapping wanted, from the instance's ``current`` one (gcp_metadata.merged)."""
        p = self.p
        wanted = {k: metadata_value(v) for k, v in (p["metadata"] or {}).items()}
        wanted[LOGGING] = "true" if p["google_logging_enabled"] else "false"
        if p["user_data"] is not None:
            wanted[USER_DATA] = p["user_data"] or None  # an empty document removes the key

        def keep(key):
            # replace: keys cos_container owns survive, and user-data unless user_data is set.
            return key.startswith(CONTAINER_PREFIX) or (key == USER_DATA and p["user_data"] is None)

        result = merged(current, wanted, replace=p["metadata_mode"] == "replace", keep=keep)
        errors = size_errors(result, self.what, hint=SIZE_HINT)
        if errors:
            raise GcpError("; ".join(errors))
        return result

    def desired_labels(self, current):
        p = self.p
        if p["labels"] is None:
            return current
        result = {} if p["purge_labels"] else dict(current)
        result.update({k: str(v) for k, v in p["labels"].items()})
        if IMAGE_LABEL in current:
            result[IMAGE_LABEL] = current[IMAGE_LABEL]
        return result

    def scopes(self):
        sa = self.p["service_account"] or {}
        return normalise_scopes(sa["scopes"]) if sa.get("scopes") is not None else None

    def resolve_image(self):
        p = self.p
        if p["image"]:
            path = qualify(p["image"], p["image_project"], collection="global/images")
            return path, basename(path)
        family = p["image_family"] or DEFAULT_IMAGE_FAMILY
        what = "image family %r in project %s" % (family, p["image_project"])
        try:
            image = self.gcp.api.call(
                "images", "get_from_family", "look up", what, project=p["image_project"], family=family
            )
        except GcpError as exc:
            if exc.status == 404:
                raise GcpError(
                    "look up %s failed: no such family, or all its images are deprecated: check image_family "
                    "(cos-stable, cos-beta, cos-dev, cos-NNN-lts) and image_project" % what
                )
            raise
        return relative(image["selfLink"]), image["name"]

    def insert_body(self, image_path, image_name):
        p = self.p
        zone = self.zone
        boot = p["boot_disk"] or {}
        mt = machine_type_name(p["machine_type"], zone) if p["machine_type"] else DEFAULT_MACHINE_TYPE
        disks = [
            {
                "boot": True,
                "autoDelete": True if boot.get("auto_delete") is None else boot["auto_delete"],
                "initializeParams": {
                    "diskName": boot.get("name") or self.name,
                    "sourceImage": image_path,
                    "diskSizeGb": str(boot.get("size_gb") or DEFAULT_BOOT_SIZE_GB),
                    "diskType": "zones/%s/diskTypes/%s" % (zone, boot.get("type") or DEFAULT_BOOT_TYPE),
                },
            }
        ]
        for disk in p["disks"] or []:
            disks.append(self.attached_disk(disk))
        nic = {"network": qualify(p["network"] or "default", self.project, collection="global/networks")}
        if p["subnetwork"]:
            nic["subnetwork"] = self.subnetwork_path()
        if p["internal_ip"]:
            nic["networkIP"] = p["internal_ip"]
        ext = p["external_ip"] or "ephemeral"
        if ext != "none":
            access = {"name": ACCESS_CONFIG, "type": "ONE_TO_ONE_NAT"}
            if ext != "ephemeral":
                address = self.static_address(ext)
                access["natIP"] = address["address"]
                if address.get("networkTier"):
                    access["networkTier"] = address["networkTier"]
            nic["accessConfigs"] = [access]
        labels = {k: str(v) for k, v in (p["labels"] or {}).items()}
        labels[IMAGE_LABEL] = image_name
        body = {
            "name": self.name,
            "machineType": "zones/%s/machineTypes/%s" % (zone, mt),
            "disks": disks,
            "networkInterfaces": [nic],
            "labels": labels,
            "metadata": {"items": items_of(self.desired_metadata({}))},
        }
        tags = sorted(set(p["network_tags"] or []))
        if tags:
            body["tags"] = {"items": tags}
        sa = p["service_account"] or {}
        email = sa.get("email") or "default"
        if email != "none":
            scopes = self.scopes()
            body["serviceAccounts"] = [{"email": email, "scopes": DEFAULT_SCOPES if scopes is None else scopes}]
        sched = self.scheduling_body()
        if sched:
            body["scheduling"] = sched
        shielded = p["shielded_vm"] or {}
        shielded_body = {
            api: shielded[opt]
            for opt, api in (
                ("secure_boot", "enableSecureBoot"),
                ("vtpm", "enableVtpm"),
                ("integrity_monitoring", "enableIntegrityMonitoring"),
            )
            if shielded.get(opt) is not None
        }
        if shielded_body:
            body["shieldedInstanceConfig"] = shielded_body
        if p["deletion_protection"] is not None:
            body["deletionProtection"] = p["deletion_protection"]
        if p["description"]:
            body["description"] = p["description"]
        return body

    def scheduling_body(self):
        s = self.p["scheduling"] or {}
        body = {}
        spot = s.get("provisioning_model") == "SPOT" or s.get("preemptible")
        if s.get("preemptible") is not None:
            body["preemptible"] = s["preemptible"]
        if s.get("provisioning_model"):
            body["provisioningModel"] = s["provisioning_model"]
        if s.get("on_host_maintenance") or spot:
            body["onHostMaintenance"] = s.get("on_host_maintenance") or "TERMINATE"
        if s.get("automatic_restart") is not None or spot:
            body["automaticRestart"] = bool(s.get("automatic_restart"))
        return body

    def subnetwork_path(self):
        return qualify(self.p["subnetwork"], self.project, collection="regions/%s/subnetworks" % region_of(self.zone))

    def attached_disk(self, disk):
        return {
            "source": qualify(disk["name"], self.project, zone=self.zone, collection="zones/{zone}/disks"),
            "deviceName": disk["device_name"] or disk["name"],
            "mode": disk["mode"],
            "autoDelete": disk["auto_delete"],
        }

    # create ---------------------------------------------------------------------------------
    def plan_create(self, plan):
        zone = self.elsewhere()
        if zone:
            raise GcpError(
                "zone: instance %r exists in %s, not %s; an instance cannot move to another zone: use zone: %s, "
                "or delete it there first (state: absent), or choose another name" % (self.name, zone, self.zone, zone)
            )
        image_path, self.image = self.resolve_image()
        body = self.insert_body(image_path, self.image)
        plan.add(
            "create %s from image %s (%s)" % (self.what, self.image, basename(body["machineType"])),
            lambda: self.gcp.mutate(
                "instances", "insert_unary", "create", self.what, zone=self.zone, instance_resource=body
            ),
        )
        predicted = copy.deepcopy(body)
        predicted.update(zone=self.zone, status="RUNNING")
        boot = predicted["disks"][0]
        init = boot.pop("initializeParams")
        boot.update(source=init["diskName"], diskSizeGb=init["diskSizeGb"], deviceName="persistent-disk-0")
        for i, disk in enumerate(predicted["disks"][1:], 1):
            disk.setdefault("deviceName", "persistent-disk-%d" % i)
        return predicted

    # reconcile ------------------------------------------------------------------------------
    def refuse(self, field, have, want, why):
        self.refusals.append("%s: %s has %s, wanted %s; %s" % (field, self.short, have, want, why))

    def check_fixed(self, actual):
        """Refuse what the API cannot change in place (or this module does not)."""
        p = self.p
        have = summarize(actual)
        if p["image"]:
            want = basename(relative(p["image"]))
            label = (actual.get("labels") or {}).get(IMAGE_LABEL)
            if label and label != want:
                self.refuse(
                    "image",
                    label,
                    want,
                    "the boot disk cannot be re-imaged in place: delete the instance (state: absent) and "
                    "create it again, or leave image unset",
                )
        if p["network"] and relative(qualify(p["network"], self.project, collection="global/networks")) != relative(
            (actual.get("networkInterfaces") or [{}])[0].get("network", "")
        ):
            self.refuse(
                "network",
                have["network"],
                basename(p["network"]),
                "the network of an existing interface cannot change: recreate the instance",
            )
        if p["subnetwork"] and basename(p["subnetwork"]) != have["subnetwork"]:
            self.refuse(
                "subnetwork",
                have["subnetwork"],
                basename(p["subnetwork"]),
                "the subnetwork of an existing interface cannot change here: recreate the instance",
            )
        if p["internal_ip"] and p["internal_ip"] != have["internal_ip"]:
            self.refuse(
                "internal_ip",
                have["internal_ip"],
                p["internal_ip"],
                "the internal address cannot change here: recreate the instance",
            )
        boot = p["boot_disk"] or {}
        hb = have["boot_disk"] or {}
        if boot.get("name") and boot["name"] != hb.get("name"):
            self.refuse("boot_disk.name", hb.get("name"), boot["name"], "the boot disk cannot be swapped here")
        if boot.get("size_gb") and hb.get("size_gb") and boot["size_gb"] < hb["size_gb"]:
            self.refuse("boot_disk.size_gb", hb["size_gb"], boot["size_gb"], "a disk can only grow")
        sched = self.wanted_scheduling(have["scheduling"])
        if sched["preemptible"] != have["scheduling"]["preemptible"]:
            self.refuse(
                "scheduling.preemptible",
                have["scheduling"]["preemptible"],
                sched["preemptible"],
                "the API cannot change the preemptibility of a VM: recreate the instance (for a new VM, prefer "
                "provisioning_model: SPOT, which can change on a stopped VM)",
            )
        elif sched["preemptible"] or sched["provisioning_model"] == "SPOT":
            what = "preemptible" if sched["preemptible"] else "Spot"
            if sched["on_host_maintenance"] != "TERMINATE":
                self.refuse(
                    "scheduling.on_host_maintenance",
                    have["scheduling"]["on_host_maintenance"],
                    sched["on_host_maintenance"],
                    "a %s VM cannot migrate: use TERMINATE" % what,
                )
            if sched["automatic_restart"]:
                self.refuse(
                    "scheduling.automatic_restart",
                    have["scheduling"]["automatic_restart"],
                    True,
                    "a %s VM cannot restart automatically: use false" % what,
                )
        actual_disks = {d["name"]: d for d in have["disks"]}
        for disk in p["disks"] or []:
            found = actual_disks.get(disk["name"])
            if not found:
                continue
            field = "disks[%s]" % disk["name"]
            if disk["device_name"] and disk["device_name"] != found["device_name"]:
                self.refuse(
                    field + ".device_name",
                    found["device_name"],
                    disk["device_name"],
                    "remove the disk from disks to detach it, then add it back",
                )
            if disk["mode"] != found["mode"]:
                self.refuse(
                    field + ".mode",
                    found["mode"],
                    disk["mode"],
                    "remove the disk from disks to detach it, then add it back",
                )

    def plan_update(self, plan, actual, after):
        p = self.p
        have = summarize(actual)

        # Description: instances.update (PUT of the whole instance with its fingerprint). First, while
        # the fingerprint read is fresh; a stale one (412) costs one more read.
        if p["description"] is not None and p["description"] != have["description"]:
            plan.add(
                "set description of %s to %r" % (self.short, p["description"]),
                lambda: with_fresh_fingerprint(actual, self.must_read, self.description_write),
            )
            after["description"] = p["description"]

        self.plan_external_ip(plan, actual, after)

        # Host maintenance and automatic restart change on a running VM; the provisioning model needs
        # a stopped one (plan_stopped_changes).
        sched = self.wanted_scheduling(have["scheduling"])
        if sched != have["scheduling"] and sched["provisioning_model"] == have["scheduling"]["provisioning_model"]:
            body = self.scheduling_body_for(actual, sched)
            plan.add(
                "set scheduling of %s: %s" % (self.short, describe_changes(have["scheduling"], sched)),
                lambda: self.instance_call("set_scheduling_unary", "set scheduling", scheduling_resource=body),
            )
            after["scheduling"] = body

        # Metadata: fingerprinted read-modify-write, rebuilt from a fresh read on 412.
        current_md = metadata_dict(actual)
        wanted_md = self.desired_metadata(current_md)
        if wanted_md != current_md:
            plan.add(
                "set metadata of %s: %s" % (self.short, describe_changes(current_md, wanted_md, secret=True)),
                lambda: set_metadata(
                    self.gcp, self.zone, self.name, actual, self.desired_metadata, self.must_read, hint=SIZE_HINT
                ),
            )
            after["metadata"] = {"items": items_of(wanted_md, list(current_md))}

        labels = actual.get("labels") or {}
        wanted_labels = self.desired_labels(labels)
        if wanted_labels != labels:
            plan.add(
                "set labels of %s: %s" % (self.short, describe_changes(labels, wanted_labels)),
                lambda: self.write_fingerprinted(actual, self.labels_write),
            )
            after["labels"] = wanted_labels

        if p["network_tags"] is not None:
            wanted_tags = sorted(set(p["network_tags"]))
            if wanted_tags != have["network_tags"]:
                plan.add(
                    "set network tags of %s to [%s]" % (self.short, ", ".join(wanted_tags)),
                    lambda: self.write_fingerprinted(actual, self.tags_write),
                )
                after["tags"] = {"items": wanted_tags}

        if p["disks"] is not None:
            wanted = {d["name"]: d for d in p["disks"]}
            attached = {d["name"]: d for d in have["disks"]}
            for name in sorted(set(attached) - set(wanted)):
                device = attached[name]["device_name"]
                plan.add(
                    "detach disk %r (device %r) from %s" % (name, device, self.short),
                    lambda device=device: self.instance_call(
                        "detach_disk_unary", "detach disk %r" % device, device_name=device
                    ),
                )
                after["disks"] = [d for d in after["disks"] if d.get("deviceName") != device]
            for disk in p["disks"]:
                if disk["name"] in attached:
                    continue
                body = self.attached_disk(disk)
                plan.add(
                    "attach disk %r to %s as device %r (%s)"
                    % (disk["name"], self.short, body["deviceName"], body["mode"]),
                    lambda body=body, name=disk["name"]: self.instance_call(
                        "attach_disk_unary", "attach disk %r" % name, attached_disk_resource=body
                    ),
                )
                after["disks"].append(dict(body))

        boot = p["boot_disk"] or {}
        hb = have["boot_disk"] or {}
        if boot.get("size_gb") and hb.get("size_gb") and boot["size_gb"] > hb["size_gb"]:
            disk_name = hb["name"]
            size = boot["size_gb"]
            plan.add(
                "grow boot disk %r of %s from %s to %s GB" % (disk_name, self.short, hb["size_gb"], size),
                lambda: self.gcp.mutate(
                    "disks",
                    "resize_unary",
                    "grow",
                    "boot disk %r in %s" % (disk_name, self.zone),
                    zone=self.zone,
                    disk=disk_name,
                    disks_resize_request_resource={"sizeGb": str(size)},
                ),
            )
            for disk in after["disks"]:
                if disk.get("boot"):
                    disk["diskSizeGb"] = str(size)

        # Auto-delete of attached disks (boot and additional): setDiskAutoDelete, by device name.
        wanted_auto = {}
        if boot.get("auto_delete") is not None and hb and boot["auto_delete"] != hb["auto_delete"]:
            wanted_auto[hb["device_name"]] = (hb["name"], boot["auto_delete"])
        attached = {d["name"]: d for d in have["disks"]}
        for disk in p["disks"] or []:
            found = attached.get(disk["name"])
            if found and disk["auto_delete"] != found["auto_delete"]:
                wanted_auto[found["device_name"]] = (disk["name"], disk["auto_delete"])
        for device, (disk_name, on) in sorted(wanted_auto.items()):
            plan.add(
                "%s auto-delete of disk %r (device %r) of %s"
                % ("enable" if on else "disable", disk_name, device, self.short),
                lambda device=device, on=on: self.instance_call(
                    "set_disk_auto_delete_unary",
                    "set auto-delete of device %r" % device,
                    device_name=device,
                    auto_delete=on,
                ),
            )
            for ad in after["disks"]:
                if ad.get("deviceName") == device:
                    ad["autoDelete"] = on

    def plan_stopped_changes(self, actual, after):
        """[(field, description, run)] of the changes that need a stopped VM."""
        p = self.p
        have = summarize(actual)
        changes = []
        if p["machine_type"]:
            mt = machine_type_name(p["machine_type"], self.zone)
            if mt != have["machine_type"]:
                body = {"machineType": "zones/%s/machineTypes/%s" % (self.zone, mt)}
                changes.append(
                    (
                        "machine_type",
                        "set machine type of %s from %s to %s" % (self.short, have["machine_type"], mt),
                        lambda body=body: self.instance_call(
                            "set_machine_type_unary",
                            "set machine type",
                            instances_set_machine_type_request_resource=body,
                        ),
                    )
                )
                after["machineType"] = body["machineType"]
        sa = p["service_account"] or {}
        if sa.get("email") is not None or sa.get("scopes") is not None:
            current = have["service_account"]
            email = sa.get("email")
            scopes = self.scopes()
            cur_email = current["email"] if current else None
            cur_scopes = current["scopes"] if current else []
            if email == "none":
                want_email, want_scopes = None, []
            else:
                want_email = cur_email if email is None else email
                if email == "default" and cur_email and cur_email.endswith("-compute@developer.gserviceaccount.com"):
                    want_email = cur_email
                if want_email is None:
                    want_email = "default"
                want_scopes = cur_scopes if scopes is None else scopes
                if cur_email is None and scopes is None:
                    want_scopes = DEFAULT_SCOPES
            if (want_email, want_scopes) != (cur_email, cur_scopes):
                body = {"email": want_email, "scopes": want_scopes} if want_email else {}
                changes.append(
                    (
                        "service_account",
                        "set service account of %s to %s with %d scope(s)"
                        % (self.short, want_email or "none", len(want_scopes)),
                        lambda body=body: self.instance_call(
                            "set_service_account_unary",
                            "set service account",
                            instances_set_service_account_request_resource=body,
                        ),
                    )
                )
                after["serviceAccounts"] = [{"email": want_email, "scopes": want_scopes}] if want_email else []
        sched = self.wanted_scheduling(have["scheduling"])
        if sched["provisioning_model"] != have["scheduling"]["provisioning_model"]:
            body = self.scheduling_body_for(actual, sched)
            changes.append(
                (
                    "scheduling.provisioning_model",
                    "set scheduling of %s: %s" % (self.short, describe_changes(have["scheduling"], sched)),
                    lambda body=body: self.instance_call(
                        "set_scheduling_unary", "set scheduling", scheduling_resource=body
                    ),
                )
            )
            after["scheduling"] = body
        shielded = p["shielded_vm"] or {}
        changed = [
            opt for opt, _api in SHIELDED_OPTIONS
            if shielded.get(opt) is not None and shielded[opt] != have["shielded_vm"][opt]
        ]
        if changed:
            body = {api: shielded[opt] for opt, api in SHIELDED_OPTIONS if opt in changed}
            changes.append(
                (
                    ", ".join("shielded_vm.%s" % opt for opt in changed),
                    "update shielded VM settings of %s: %s"
                    % (self.short, ", ".join("%s=%s" % (opt, str(shielded[opt]).lower()) for opt in changed)),
                    lambda body=body: self.instance_call(
                        "update_shielded_instance_config_unary",
                        "update shielded VM settings",
                        shielded_instance_config_resource=body,
                    ),
                )
            )
            after["shieldedInstanceConfig"] = dict(actual.get("shieldedInstanceConfig") or {}, **body)
        return changes

    # scheduling ---------------------------------------------------------------------------------
    def wanted_scheduling(self, current):
        """The scheduling summary wanted, from the ``current`` one and the options given.

        When the provisioning model changes, maintenance and restart not given take the new model's
        defaults (TERMINATE and no restart for Spot, MIGRATE and restart for standard VMs).
        """
        given = self.p["scheduling"] or {}
        want = dict(current)
        for opt in SCHEDULING_OPTIONS:
            if given.get(opt) is not None:
                want[opt] = given[opt]
        if want["provisioning_model"] != current["provisioning_model"]:
            spot = want["provisioning_model"] == "SPOT"
            if given.get("on_host_maintenance") is None:
                want["on_host_maintenance"] = "TERMINATE" if spot else "MIGRATE"
            if given.get("automatic_restart") is None:
                want["automatic_restart"] = not spot
        return want

    @staticmethod
    def scheduling_body_for(actual, want):
        """The setScheduling body: the instance's scheduling (other fields kept) with ``want`` applied."""
        body = dict(actual.get("scheduling") or {})
        body.update(
            preemptible=want["preemptible"],
            provisioningModel=want["provisioning_model"],
            onHostMaintenance=want["on_host_maintenance"],
            automaticRestart=want["automatic_restart"],
        )
        if want["provisioning_model"] != "SPOT":
            body.pop("instanceTerminationAction", None)  # a Spot-only setting
        return body

    # external IP --------------------------------------------------------------------------------
    def static_address(self, value):
        """The reserved address named by ``value`` (its name or IPv4) in the zone's region, as a dict."""
        region = region_of(self.zone)
        if _ipv4(value):
            what = "static address %s in region %s" % (value, region)
            found = self.gcp.api.list(
                "addresses", "look up", what, project=self.project, region=region, filter='address = "%s"' % value
            )
            address = found[0] if found else None
        else:
            what = "static address %r in region %s" % (value, region)
            address = self.gcp.api.get("addresses", "look up", what, project=self.project, region=region,
                                       address=value)
        if address is None:
            raise GcpError(
                "external_ip: there is no %s of project %s: reserve it first (gcloud compute addresses create "
                "--region %s), or use ephemeral" % (what, self.project, region)
            )
        if address.get("addressType", "EXTERNAL") != "EXTERNAL":
            raise GcpError("external_ip: %s is an internal address: use internal_ip for it" % what)
        users = address.get("users") or []
        me = "projects/%s/zones/%s/instances/%s" % (self.project, self.zone, self.name)
        if users and me not in [relative(u) for u in users]:
            raise GcpError(
                "external_ip: %s is in use by %s: release it there first, or choose another address"
                % (what, relative(users[0]))
            )
        return address

    def is_static(self, ip):
        """Whether ``ip`` is a reserved static address of the zone's region."""
        region = region_of(self.zone)
        return bool(
            self.gcp.api.list(
                "addresses",
                "look up",
                "static address %s in region %s" % (ip, region),
                project=self.project,
                region=region,
                filter='address = "%s"' % ip,
            )
        )

    def plan_external_ip(self, plan, actual, after):
        """none, ephemeral or static on the first interface: deleteAccessConfig, then addAccessConfig."""
        ext = self.p["external_ip"]
        if ext is None:
            return
        nic = (actual.get("networkInterfaces") or [{}])[0]
        access = (nic.get("accessConfigs") or [None])[0]
        current = access.get("natIP") if access else None
        add = None  # the access config to add, if any
        added = "an ephemeral external IP"
        if ext == "ephemeral":
            if current is None or self.is_static(current):
                add = {"name": ACCESS_CONFIG, "type": "ONE_TO_ONE_NAT"}
        elif ext != "none":
            address = self.static_address(ext)
            if address["address"] != current:
                add = {"name": ACCESS_CONFIG, "type": "ONE_TO_ONE_NAT", "natIP": address["address"]}
                if address.get("networkTier"):
                    add["networkTier"] = address["networkTier"]
                added = "static external IP %s (address %r)" % (address["address"], address["name"])
        remove = access is not None and (ext == "none" or add is not None)
        if remove:
            nic_name, ac_name = nic.get("name", "nic0"), access.get("name", ACCESS_CONFIG)
            plan.add(
                "remove external IP %s of %s (access config %r)" % (current, self.short, ac_name),
                lambda: self.instance_call(
                    "delete_access_config_unary",
                    "remove external IP",
                    network_interface=nic_name,
                    access_config=ac_name,
                ),
            )
        if add:
            nic_name = nic.get("name", "nic0")
            plan.add(
                "add %s to %s" % (added, self.short),
                lambda: self.instance_call(
                    "add_access_config_unary",
                    "add external IP",
                    network_interface=nic_name,
                    access_config_resource=add,
                ),
            )
        if remove or add:
            after_nic = after["networkInterfaces"][0]
            if add:
                # A new ephemeral address is known only once assigned.
                after_nic["accessConfigs"] = [dict(add, natIP=add.get("natIP", "ephemeral"))]
            else:
                after_nic.pop("accessConfigs", None)

    # fingerprinted writes ----------------------------------------------------------------------
    def description_write(self, inst):
        wanted = self.p["description"]
        if inst.get("description", "") == wanted:
            return None
        body = copy.deepcopy(inst)
        body["description"] = wanted
        return self.instance_call(
            "update_unary", "set description", instance_resource=body, most_disruptive_allowed_action="REFRESH"
        )

    def write_fingerprinted(self, actual, write):
        return with_fresh_fingerprint(actual, self.must_read, write)

    def labels_write(self, inst):
        current = inst.get("labels") or {}
        wanted = self.desired_labels(current)
        if wanted == current:
            return None
        body = {"labelFingerprint": inst.get("labelFingerprint"), "labels": wanted}
        return self.instance_call("set_labels_unary", "set labels", instances_set_labels_request_resource=body)

    def tags_write(self, inst):
        wanted = sorted(set(self.p["network_tags"]))
        tags = inst.get("tags") or {}
        if sorted(tags.get("items") or []) == wanted:
            return None
        return self.instance_call(
            "set_tags_unary",
            "set network tags",
            tags_resource={"fingerprint": tags.get("fingerprint"), "items": wanted},
        )

    # power --------------------------------------------------------------------------------------
    def wait_stopped(self):
        """A STOPPING instance cannot be started or changed: wait (bounded) until it is TERMINATED."""
        deadline = time.monotonic() + self.gcp.wait_timeout
        while True:
            inst = self.must_read()
            if inst.get("status") not in ("STOPPING", "SUSPENDING"):
                return inst
            if time.monotonic() > deadline:
                raise GcpError(
                    "wait for %s to stop: still %s after %ds; raise wait_timeout, or re-run the task"
                    % (self.what, inst.get("status"), self.gcp.wait_timeout)
                )
            time.sleep(1)

    def add_stop(self, plan, why=""):
        plan.add("stop %s%s" % (self.short, why), lambda: self.instance_call("stop_unary", "stop"))

    def add_start(self, plan, why="", stopping=False):
        def run():
            if stopping:
                self.wait_stopped()
            return self.instance_call("start_unary", "start")

        plan.add("start %s%s" % (self.short, why), run)

    # main -----------------------------------------------------------------------------------------
    def run(self):
        p = self.p
        state = p["state"]
        actual = self.read()
        if state == "absent":
            return self.absent(actual)
        plan = Plan(before=summarize(actual))
        if actual is None:
            after = self.plan_create(plan)
            if state == "stopped":
                self.add_stop(plan)
                after["status"] = "TERMINATED"
        else:
            self.image = (actual.get("labels") or {}).get(IMAGE_LABEL)
            self.check_fixed(actual)
            if self.refusals:
                raise GcpError("; ".join(self.refusals))
            after = copy.deepcopy(actual)
            self.plan_update(plan, actual, after)
            self.plan_power(plan, actual, after)
            if p["deletion_protection"] is not None and p["deletion_protection"] != bool(
                actual.get("deletionProtection")
            ):
                on = p["deletion_protection"]
                plan.add(
                    "%s deletion protection of %s" % ("enable" if on else "disable", self.short),
                    lambda: self.gcp.mutate(
                        "instances",
                        "set_deletion_protection_unary",
                        "set deletion protection",
                        self.what,
                        zone=self.zone,
                        resource=self.name,
                        deletion_protection=on,
                    ),
                )
                after["deletionProtection"] = on
        plan.after = diff_view(summarize(after), created=actual is None)
        plan.before = diff_view(plan.before)
        plan.execute(self.gcp.check_mode)
        if plan.changed and not self.gcp.check_mode:
            final = summarize(self.must_read())
        else:
            final = summarize(after) if plan.changed else summarize(actual)
        self.finish(plan, final)

    def plan_power(self, plan, actual, after):
        p = self.p
        state = p["state"]
        status = actual.get("status")
        stopping = status in ("STOPPING", "SUSPENDING")
        if status in ("SUSPENDED", "SUSPENDING") and state in ("started", "restarted"):
            raise GcpError("%s is %s: resume it first (gcloud compute instances resume)" % (self.what, status))
        running = status in RUNNING
        stopped_changes = self.plan_stopped_changes(actual, after)
        if stopped_changes and running and not p["allow_stopping_for_update"]:
            fields = ", ".join(field for field, _d, _r in stopped_changes)
            raise GcpError(
                "%s: changing %s of %s needs the VM stopped; set allow_stopping_for_update: true to let the module "
                "stop and start it, or stop it first (state: stopped)" % (fields, fields, self.what)
            )
        # The power state the task ends in.
        end_running = running if state == "present" else state in ("started", "restarted")
        restarted = False
        if stopped_changes:
            if running:
                self.add_stop(plan, " to change %s" % ", ".join(f for f, _d, _r in stopped_changes))
                restarted = True
            for _field, description, run in stopped_changes:
                if stopping:
                    plan.add(description, lambda run=run: (self.wait_stopped(), run())[1])
                    stopping = False
                else:
                    plan.add(description, run)
            if end_running:
                self.add_start(plan)
        elif state == "stopped" and running:
            self.add_stop(plan)
        elif state == "started" and not running:
            self.add_start(plan, stopping=stopping)
        elif state == "restarted" and not restarted:
            if running:
                self.add_stop(plan, " (restart)")
                self.add_start(plan, " (restart)")
            else:
                self.add_start(plan, stopping=stopping)
        after["status"] = "RUNNING" if end_running else "TERMINATED"

    def absent(self, actual):
        p = self.p
        plan = Plan(before=diff_view(summarize(actual)), after={})
        if actual is not None:
            if actual.get("deletionProtection"):
                if p["deletion_protection"] is not False:
                    raise GcpError(
                        "delete %s: deletion protection is on; set deletion_protection: false with state: absent "
                        "to turn it off and delete the instance" % self.what
                    )
                plan.add(
                    "disable deletion protection of %s" % self.short,
                    lambda: self.gcp.mutate(
                        "instances",
                        "set_deletion_protection_unary",
                        "set deletion protection",
                        self.what,
                        zone=self.zone,
                        resource=self.name,
                        deletion_protection=False,
                    ),
                )
            plan.add("delete %s" % self.what, lambda: self.instance_call("delete_unary", "delete"))
        plan.execute(self.gcp.check_mode)
        self.image = (actual or {}).get("labels", {}).get(IMAGE_LABEL)
        self.finish(plan, {})

    def finish(self, plan, instance):
        result = dict(changed=plan.changed, actions=plan.descriptions, diff=plan.diff(), instance=instance)
        if self.image:
            result["image"] = self.image
        self.gcp.exit(**result)


def diff_view(summary, created=False):
    """The summary as the diff shows it: after a creation, fields only the API assigns are left out."""
    if not summary:
        return {}
    view = dict(summary)
    if created:
        for key in ("external_ip", "self_link"):
            view.pop(key, None)
        for key in ("internal_ip", "subnetwork"):
            if view.get(key) is None:
                view.pop(key, None)
    return view


def describe_changes(before, after, secret=False):
    """'add a, b; change c; remove d' (with values for labels, key names only for metadata)."""
    added = sorted(k for k in after if k not in before)
    changed = sorted(k for k in after if k in before and before[k] != after[k])
    removed = sorted(k for k in before if k not in after)
    parts = []
    for verb, keys in (("add", added), ("change", changed)):
        if keys:
            if secret:
                shown = [k if k not in PUBLIC_METADATA else "%s=%s" % (k, after[k]) for k in keys]
            else:
                shown = ["%s=%s" % (k, after[k]) for k in keys]
            parts.append("%s %s" % (verb, ", ".join(shown)))
    if removed:
        parts.append("remove %s" % ", ".join(removed))
    return "; ".join(parts)


def main():
    disk_options = dict(
        name=dict(type="str", required=True),
        device_name=dict(type="str"),
        mode=dict(type="str", choices=["READ_WRITE", "READ_ONLY"], default="READ_WRITE"),
        auto_delete=dict(type="bool", default=False),
    )
    gcp = GcpModule(
        dict(
            name=dict(type="str", required=True),
            zone=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent", "started", "stopped", "restarted"]),
            machine_type=dict(type="str"),
            image=dict(type="str"),
            image_family=dict(type="str"),
            image_project=dict(type="str", default="cos-cloud"),
            boot_disk=dict(
                type="dict",
                options=dict(
                    name=dict(type="str"),
                    size_gb=dict(type="int"),
                    type=dict(
                        type="str",
                        choices=[
                            "pd-standard",
                            "pd-balanced",
                            "pd-ssd",
                            "pd-extreme",
                            "hyperdisk-balanced",
                            "hyperdisk-extreme",
                            "hyperdisk-throughput",
                            "hyperdisk-ml",
                        ],
                    ),
                    auto_delete=dict(type="bool"),
                ),
            ),
            disks=dict(type="list", elements="dict", options=disk_options),
            network=dict(type="str"),
            subnetwork=dict(type="str"),
            internal_ip=dict(type="str"),
            external_ip=dict(type="str"),
            network_tags=dict(type="list", elements="str"),
            labels=dict(type="dict"),
            purge_labels=dict(type="bool", default=True),
            service_account=dict(
                type="dict",
                options=dict(email=dict(type="str"), scopes=dict(type="list", elements="str")),
            ),
            metadata=dict(type="dict"),
            metadata_mode=dict(type="str", choices=["merge", "replace"], default="merge"),
            user_data=dict(type="str"),
            google_logging_enabled=dict(type="bool", default=True),
            shielded_vm=dict(
                type="dict",
                options=dict(
                    secure_boot=dict(type="bool"),
                    vtpm=dict(type="bool"),
                    integrity_monitoring=dict(type="bool"),
                ),
            ),
            deletion_protection=dict(type="bool"),
            scheduling=dict(
                type="dict",
                options=dict(
                    preemptible=dict(type="bool"),
                    provisioning_model=dict(type="str", choices=["STANDARD", "SPOT"]),
                    on_host_maintenance=dict(type="str", choices=["MIGRATE", "TERMINATE"]),
                    automatic_restart=dict(type="bool"),
                ),
            ),
            description=dict(type="str"),
            allow_stopping_for_update=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("image", "image_family")],
    )
    errors = validate(gcp.params)
    if errors:
        gcp.fail("; ".join(errors))
    gcp.run(lambda gcp: CosInstance(gcp).run())


if __name__ == "__main__":
    main()
