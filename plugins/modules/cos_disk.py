#!/usr/bin/python
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cos_disk
short_description: Manage Compute Engine persistent disks and their attachment to instances
version_added: 0.1.0
description:
  - Creates, grows, labels, attaches, detaches and deletes a zonal Compute Engine persistent disk.
  - The disk is compared with the options as plain data, and only the API calls needed to close the gap are
    made, in order, each waited on. A second identical run reports no change and sends only reads.
  - Fields the API cannot change on an existing disk (O(type), the source, O(description)) are never changed by
    deleting and recreating the disk; a difference fails the task with a message that says what differs.
  - Growing a disk does not grow its filesystem. The disk units of the C(gce.cos.cos_deploy) role run
    C(resize2fs) when the disk is next mounted, so the new space shows after the next boot or remount;
    the result carries RV(resize_hint) to say so.
options:
  name:
    description:
      - The name of the disk, RFC1035 style (lowercase letters, digits and hyphens, starting with a letter).
    type: str
    required: true
  zone:
    description:
      - The zone of the disk, for example C(us-central1-a).
    type: str
    required: true
  state:
    description:
      - V(present) creates the disk if it is missing and reconciles it if it exists.
      - V(absent) deletes it. A disk attached to an instance is only deleted with O(force_detach=true).
    type: str
    choices: [present, absent]
    default: present
  size_gb:
    description:
      - The size of the disk in GB.
      - An existing disk is grown to this size. Disks cannot shrink; a smaller size fails the task.
      - When not set, a new disk gets the size of its source image or snapshot, or else the default size of its
        type (for example 500 GB for V(pd-standard), 100 GB for V(pd-balanced)).
      - Must lie within the limits of the disk type, for example 10 to 65536 GB for V(pd-balanced) and
        500 to 65536 GB for V(pd-extreme).
    type: int
  type:
    description:
      - The disk type, by short name.
      - When not set, a new disk gets the API's default type (V(pd-standard)) and an existing disk's type is not
        checked.
      - The type of an existing disk cannot change.
      - The type is also checked against the zone's disk types before the disk is created.
    type: str
    choices:
      - pd-standard
      - pd-balanced
      - pd-ssd
      - pd-extreme
      - hyperdisk-balanced
      - hyperdisk-balanced-high-availability
      - hyperdisk-extreme
      - hyperdisk-ml
      - hyperdisk-throughput
  source_image:
    description:
      - Create the disk from this image, by name (in O(image_project), default the disk's project), as
        C(projects/P/global/images/NAME), as C(projects/P/global/images/family/FAMILY), or as a URL.
      - Only used at creation. On an existing disk it must name the image the disk was created from.
      - Mutually exclusive with O(source_snapshot) and O(image_family).
    type: str
  image_family:
    description:
      - Create the disk from the newest image of this family in O(image_project), as C(gcloud --image-family)
        does. The family is resolved once, at creation; an existing disk is never recreated because the family
        moved on.
      - Mutually exclusive with O(source_image) and O(source_snapshot).
    type: str
  image_project:
    description:
      - The project of O(image_family), or of O(source_image) when that is a bare name.
      - Defaults to the disk's project.
    type: str
  source_snapshot:
    description:
      - Create the disk from this snapshot, by name, as C(projects/P/global/snapshots/NAME), or as a URL.
      - Only used at creation. On an existing disk it must name the snapshot the disk was created from.
      - Mutually exclusive with O(source_image) and O(image_family).
    type: str
  description:
    description:
      - A description of the disk. Set at creation only; an existing disk with another description fails the task.
    type: str
  labels:
    description:
      - Labels of the disk, as a mapping of key to value (lowercase letters, digits, C(_) and C(-)).
      - When not set, the labels of an existing disk are left as they are.
    type: dict
  purge_labels:
    description:
      - With V(true), the disk ends up with exactly O(labels). With V(false), O(labels) are added to or
        updated in the disk's labels, and other labels are kept.
    type: bool
    default: true
  instance:
    description:
      - The name of an instance in the same zone to attach the disk to (with O(attached=true)) or to detach it
        from (with O(attached=false)).
      - The instance must exist when the disk is to be attached.
    type: str
  attached:
    description:
      - With O(instance), whether the disk is attached to that instance.
      - V(false) without O(instance) detaches the disk from every instance that uses it.
      - A disk already attached with another O(device_name) or O(mode) is not detached and reattached behind
        the play's back; the task fails and says so.
    type: bool
    default: true
  device_name:
    description:
      - The device name of the attachment, seen in the guest as C(/dev/disk/by-id/google-DEVICE_NAME).
      - Defaults to the disk's name when attaching. When not set, an existing attachment's device name is
        accepted as it is.
    type: str
  mode:
    description:
      - The attachment mode. A V(READ_WRITE) disk can be attached to one instance only; a V(READ_ONLY) disk to many.
      - Defaults to V(READ_WRITE) when attaching. When not set, an existing attachment's mode is accepted.
    type: str
    choices: [READ_WRITE, READ_ONLY]
  auto_delete:
    description:
      - Whether the disk is deleted with the instance it is attached to.
      - Defaults to V(false) when attaching. An existing attachment is changed in place
        (C(instances.setDiskAutoDelete)).
    type: bool
  force_detach:
    description:
      - With O(state=absent), detach the disk from every instance that uses it, then delete it.
      - Without it, deleting an attached disk fails the task and names the instances.
    type: bool
    default: false
extends_documentation_fragment:
  - gce.cos.gcp
  - gce.cos.gcp.wait
  - gce.cos.attributes
notes:
  - Every value is checked before the first API call; bad names, unknown types, impossible sizes and conflicting
    options fail the task with nothing created.
  - A task interrupted half-way (for example created but not attached) is completed by the next run.
seealso:
  - name: Persistent disk types
    description: The disk types and their size limits.
    link: https://cloud.google.com/compute/docs/disks
  - module: gce.cos.cos_instance
author:
  - gce.cos maintainers (@gce-cos)
"""

EXAMPLES = r"""
- name: A 20 GB balanced data disk, attached to web-1 as /dev/disk/by-id/google-data
  gce.cos.cos_disk:
    name: web-data
    zone: us-central1-a
    size_gb: 20
    type: pd-balanced
    labels:
      app: web
    instance: web-1
    device_name: data

- name: Grow it (the filesystem grows when the disk is next mounted)
  gce.cos.cos_disk:
    name: web-data
    zone: us-central1-a
    size_gb: 50
  register: grown

- name: A disk restored from a snapshot, not attached
  gce.cos.cos_disk:
    name: web-data-restore
    zone: us-central1-a
    source_snapshot: web-data-nightly

- name: Detach the data disk from web-1, keep the disk
  gce.cos.cos_disk:
    name: web-data
    zone: us-central1-a
    instance: web-1
    attached: false

- name: Delete a disk, detaching it from every instance first
  gce.cos.cos_disk:
    name: web-data
    zone: us-central1-a
    state: absent
    force_detach: true
"""

RETURN = r"""
disk:
  description:
    - The disk after the task, as plain data; empty when O(state=absent).
    - In check mode, the disk as the run would leave it.
  returned: always
  type: dict
  contains:
    name:
      description: The disk's name.
      type: str
      sample: web-data
    zone:
      description: The disk's zone.
      type: str
      sample: us-central1-a
    sizeGb:
      description: The size in GB.
      type: int
      sample: 20
    type:
      description: The short name of the disk type.
      type: str
      sample: pd-balanced
    labels:
      description: The disk's labels.
      type: dict
      sample: {app: web}
    description:
      description: The disk's description, when it has one.
      type: str
    sourceImage:
      description: The image the disk was created from (C(projects/P/global/images/NAME)), when it was.
      type: str
      sample: projects/cos-cloud/global/images/cos-stable-121-18867-199-28
    sourceSnapshot:
      description: The snapshot the disk was created from (C(projects/P/global/snapshots/NAME)), when it was.
      type: str
    users:
      description: The names of the instances the disk is attached to.
      type: list
      elements: str
      sample: [web-1]
    attachment:
      description:
        - With O(instance), how the disk is attached to it (C(instance), C(deviceName), C(mode), C(autoDelete));
          empty when it is not attached.
      type: dict
      sample: {instance: web-1, deviceName: data, mode: READ_WRITE, autoDelete: false}
    status:
      description: The disk's status (C(READY) once created). Not set for a disk check mode would create.
      type: str
      sample: READY
    selfLink:
      description: The disk's URL.
      type: str
      sample: https://www.googleapis.com/compute/v1/projects/my-project/zones/us-central1-a/disks/web-data
actions:
  description: The API calls the task made (or, in check mode, would make), in order, in words.
  returned: always
  type: list
  elements: str
  sample: ["create disk 'web-data' in us-central1-a (20 GB pd-balanced)",
           "attach disk 'web-data' to instance 'web-1' as device 'data' (READ_WRITE)"]
resize_hint:
  description: Set when the disk grows; says that the filesystem grows when the disk is next mounted.
  returned: when the disk grows
  type: str
  sample: "disk 'web-data' grows from 20 to 50 GB: the filesystem is grown (resize2fs) when the disk is next mounted"
"""

from ansible_collections.gce.cos.plugins.module_utils._api_helper.code_cache import use_code_cache

use_code_cache()  # before the module_utils below: on the helper path their compiled code is kept
from ansible_collections.gce.cos.plugins.module_utils._disk.engine import converge
from ansible_collections.gce.cos.plugins.module_utils._disk.options import ARGUMENT_RULES, ARGUMENT_SPEC
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import GcpModule


def main():
    GcpModule(ARGUMENT_SPEC, **ARGUMENT_RULES).run(converge)


if __name__ == "__main__":
    main()
