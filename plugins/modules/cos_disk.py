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
attributes:
  check_mode:
    support: full
    description: Check mode reads the disk and reports the same plan (RV(actions) and the diff) as a real run.
  diff_mode:
    support: full
    description: The diff shows the disk before and after, as in RV(disk).
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

import re

from ansible_collections.gce.cos.plugins.module_utils.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils.gcp_module import GcpModule
from ansible_collections.gce.cos.plugins.module_utils.gcp_names import (
    basename,
    labels_errors,
    name_error,
    qualify,
    relative,
    self_link,
    zone_error,
)
from ansible_collections.gce.cos.plugins.module_utils.gcp_operations import with_fresh_fingerprint
from ansible_collections.gce.cos.plugins.module_utils.gcp_plan import Plan

# Disk types and their size limits in GB (zonal disks), checked before any API call; the
# zone's own diskTypes answer is checked again at creation.
DISK_TYPES = {
    "pd-standard": (10, 65536),
    "pd-balanced": (10, 65536),
    "pd-ssd": (10, 65536),
    "pd-extreme": (500, 65536),
    "hyperdisk-balanced": (4, 65536),
    "hyperdisk-balanced-high-availability": (4, 65536),
    "hyperdisk-extreme": (64, 65536),
    "hyperdisk-ml": (4, 65536),
    "hyperdisk-throughput": (2048, 32768),
}
MAX_SIZE_GB = 65536
# The API's pattern for device names (instances.setDiskAutoDelete deviceName).
DEVICE_NAME_RE = re.compile(r"^\w[\w.-]{0,254}$")
_VALID_SIZE_RE = re.compile(r"^(\d+)GB-(\d+)GB$")

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    zone=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    size_gb=dict(type="int"),
    type=dict(type="str", choices=sorted(DISK_TYPES)),
    source_image=dict(type="str"),
    image_family=dict(type="str"),
    image_project=dict(type="str"),
    source_snapshot=dict(type="str"),
    description=dict(type="str"),
    labels=dict(type="dict"),
    purge_labels=dict(type="bool", default=True),
    instance=dict(type="str"),
    attached=dict(type="bool", default=True),
    device_name=dict(type="str"),
    mode=dict(type="str", choices=["READ_WRITE", "READ_ONLY"]),
    auto_delete=dict(type="bool"),
    force_detach=dict(type="bool", default=False),
)


def validate(params):
    """Every error in the options, found without calling the API."""
    errors = [name_error("name", params["name"], "disk name"), zone_error("zone", params["zone"])]
    size = params["size_gb"]
    dtype = params["type"]
    if size is not None:
        low, high = DISK_TYPES.get(dtype, (1, MAX_SIZE_GB))
        if size < 1 or size > MAX_SIZE_GB:
            errors.append("size_gb: %d GB is not a possible disk size: use 1 to %d GB" % (size, MAX_SIZE_GB))
        elif not low <= size <= high:
            errors.append(
                "size_gb: %d GB is outside the limits of disk type %s (%d to %d GB): pick a size in that range "
                "or another type" % (size, dtype, low, high)
            )
    if params["labels"] is not None:
        errors.extend(labels_errors("labels", params["labels"]))
    if params["image_project"] and not (params["source_image"] or params["image_family"]):
        errors.append("image_project: is only used with source_image or image_family: set one of them or drop it")
    if params["image_family"]:
        errors.append(name_error("image_family", params["image_family"], "image family name"))
    if params["image_project"]:
        errors.append(_project_error("image_project", params["image_project"]))
    if params["source_snapshot"] and "/" not in params["source_snapshot"]:
        errors.append(name_error("source_snapshot", params["source_snapshot"], "snapshot name"))
    if params["source_image"] and "/" not in params["source_image"]:
        errors.append(name_error("source_image", params["source_image"], "image name"))
    if params["instance"] is not None:
        errors.append(name_error("instance", params["instance"], "instance name"))
    if params["device_name"] is not None and not DEVICE_NAME_RE.match(params["device_name"]):
        errors.append(
            "device_name: %r is not a valid device name: use letters, digits, '_', '.' and '-', starting with a "
            "letter, digit or '_'" % params["device_name"]
        )
    if params["state"] == "present" and not params["attached"]:
        extra = [f for f in ("device_name", "mode", "auto_delete") if params[f] is not None]
        if extra:
            errors.append("%s: only apply when attaching; with attached=false drop them" % ", ".join(extra))
    return [e for e in errors if e]


def _project_error(field, value):
    if re.match(r"^[a-z][-a-z0-9.:]{4,61}[a-z0-9]$", value or ""):
        return None
    return "%s: %r is not a valid project ID" % (field, value)


# -- plain data --------------------------------------------------------------------------------
def summary(disk, attachment=None, with_attachment=False):
    """The disk as the module returns it and diffs it: short names, sizeGb as int."""
    if not disk:
        return {}
    out = {
        "name": disk["name"],
        "zone": basename(disk.get("zone")),
        "sizeGb": int(disk["sizeGb"]) if disk.get("sizeGb") is not None else None,
        "type": basename(disk.get("type")),
        "labels": dict(disk.get("labels") or {}),
        "users": [basename(u) for u in disk.get("users") or []],
        "selfLink": disk.get("selfLink"),
    }
    for key in ("description", "sourceImage", "sourceSnapshot"):
        if disk.get(key):
            out[key] = relative(disk[key])
    if out["sizeGb"] is None:
        del out["sizeGb"]
    if with_attachment:
        out["attachment"] = dict(attachment or {})
    if disk.get("status"):
        out["status"] = disk["status"]
    return out


def for_diff(data):
    """A summary without the fields that only say where the resource is in its life cycle."""
    return {k: v for k, v in (data or {}).items() if k != "status"}


def attachment_of(instance, disk_link):
    """{instance, deviceName, mode, autoDelete} of ``disk_link`` on ``instance``, or None."""
    for attached in (instance or {}).get("disks") or []:
        if relative(attached.get("source")) == relative(disk_link):
            return {
                "instance": instance["name"],
                "deviceName": attached.get("deviceName"),
                "mode": attached.get("mode", "READ_WRITE"),
                "autoDelete": bool(attached.get("autoDelete", False)),
            }
    return None


def _fmt_labels(labels):
    return "{%s}" % ", ".join("%s: %s" % (k, labels[k]) for k in sorted(labels))


# -- the module ----------------------------------------------------------------------------------
class DiskModule:
    def __init__(self, gcp):
        self.gcp = gcp
        self.params = gcp.params
        self.name = self.params["name"]
        self.zone = self.params["zone"]
        self.project = gcp.api.project
        self.path = "projects/%s/zones/%s/disks/%s" % (self.project, self.zone, self.name)
        self.what = "disk %r in %s" % (self.name, self.zone)
        self.plan = Plan()
        self.result = {}

    # reads
    def read_disk(self):
        return self.gcp.api.get("disks", "read", self.what, project=self.project, zone=self.zone, disk=self.name)

    def read_instance(self, name):
        return self.gcp.api.get(
            "instances",
            "read",
            "instance %r in %s" % (name, self.zone),
            project=self.project,
            zone=self.zone,
            instance=name,
        )

    # the run
    def run(self):
        disk = self.read_disk()
        if self.params["state"] == "absent":
            self.plan_absent(disk)
        else:
            self.plan_present(disk)
        self.plan.execute(self.gcp.check_mode)
        self.finish(disk)

    def finish(self, disk):
        p = self.params
        if p["state"] == "absent":
            final = {}
        elif self.gcp.check_mode or not self.plan.changed:
            final = self.planned_after
        else:
            # Read back what the API made (status, defaults); the attachment is what the plan set.
            fresh = self.read_disk()
            final = summary(fresh, self.after_attachment, with_attachment=self.with_attachment)
        self.gcp.exit(
            changed=self.plan.changed, actions=self.plan.descriptions, diff=self.plan.diff(), disk=final, **self.result
        )

    # state=absent
    def plan_absent(self, disk):
        self.plan.before = for_diff(summary(disk))
        self.plan.after = {}
        if disk is None:
            return
        users = [basename(u) for u in disk.get("users") or []]
        if users and not self.params["force_detach"]:
            raise GcpError(
                "%s is attached to instance(s) %s: it is not deleted while in use; detach it first "
                "(attached: false), or set force_detach: true to detach it from every instance and delete it"
                % (self.what, ", ".join(repr(u) for u in users))
            )
        for user in users:
            self.plan_detach(disk, self.read_instance(user))
        self.plan.add(
            "delete %s" % self.what,
            lambda: self.gcp.mutate("disks", "delete_unary", "delete", self.what, zone=self.zone, disk=self.name),
        )

    # state=present
    def plan_present(self, disk):
        p = self.params
        instance = None
        self.with_attachment = p["instance"] is not None
        if p["instance"]:
            instance = self.read_instance(p["instance"])
            if instance is None and p["attached"]:
                raise GcpError(
                    "instance %r not found in %s: disk %r cannot be attached to it; create the instance first "
                    "(gce.cos.cos_instance) or check the instance and zone" % (p["instance"], self.zone, self.name)
                )
        before_attachment = attachment_of(instance, self.path) if instance else None
        self.plan.before = for_diff(summary(disk, before_attachment, self.with_attachment)) if disk else {}

        if disk is None:
            after = self.plan_create()
        else:
            after = dict(disk)
            self.check_immutable(disk)
            self.plan_resize(disk, after)
            self.plan_labels(disk, after)
        self.after_attachment = before_attachment
        self.plan_attachment(disk, after, instance, before_attachment)
        self.planned_after = summary(after, self.after_attachment, self.with_attachment)
        self.plan.after = for_diff(self.planned_after)

    def source_image(self):
        """The image to create from (relative path, family form kept), or None."""
        p = self.params
        project = p["image_project"] or self.project
        if p["image_family"]:
            return "projects/%s/global/images/family/%s" % (project, p["image_family"])
        if p["source_image"]:
            return qualify(p["source_image"], project, collection="global/images")
        return None

    def source_snapshot(self):
        snap = self.params["source_snapshot"]
        return qualify(snap, self.project, collection="global/snapshots") if snap else None

    def resolve_image(self, image_path):
        """The image resource (a family resolves to its newest image now, as gcloud does)."""
        parts = image_path.split("/")
        what = "image %s" % image_path
        if len(parts) == 6 and parts[4] == "family":
            try:
                found = self.gcp.api.call("images", "get_from_family", "read", what, project=parts[1], family=parts[5])
            except GcpError as exc:
                if exc.status != 404:
                    raise
                found = None
        elif len(parts) == 5 and parts[2:4] == ["global", "images"]:
            found = self.gcp.api.get("images", "read", what, project=parts[1], image=parts[4])
        else:
            raise GcpError(
                "source_image: %r is not an image reference: use NAME, projects/P/global/images/NAME "
                "or projects/P/global/images/family/FAMILY" % self.params["source_image"]
            )
        if found is None:
            raise GcpError("%s not found: check source_image/image_family and image_project" % what)
        return found

    def plan_create(self):
        p = self.params
        dtype_name = p["type"] or "pd-standard"
        dtype = self.gcp.api.get(
            "disk_types",
            "read",
            "disk type %r in %s" % (dtype_name, self.zone),
            project=self.project,
            zone=self.zone,
            disk_type=dtype_name,
        )
        if dtype is None:
            raise GcpError(
                "type: disk type %r is not available in zone %s: pick another type or zone" % (dtype_name, self.zone)
            )
        source_size = None
        body = {"name": self.name, "type": "projects/%s/zones/%s/diskTypes/%s" % (self.project, self.zone, dtype_name)}
        image_path = self.source_image()
        snapshot_path = self.source_snapshot()
        if image_path:
            image = self.resolve_image(image_path)
            body["sourceImage"] = relative(image["selfLink"])
            source_size = int(image.get("diskSizeGb") or 0)
        elif snapshot_path:
            parts = snapshot_path.split("/")
            if len(parts) != 5 or parts[2:4] != ["global", "snapshots"]:
                raise GcpError(
                    "source_snapshot: %r is not a snapshot reference: use NAME or "
                    "projects/P/global/snapshots/NAME" % p["source_snapshot"]
                )
            snapshot = self.gcp.api.get(
                "snapshots", "read", "snapshot %s" % snapshot_path, project=parts[1], snapshot=parts[4]
            )
            if snapshot is None:
                raise GcpError("snapshot %s not found: check source_snapshot" % snapshot_path)
            body["sourceSnapshot"] = relative(snapshot["selfLink"])
            source_size = int(snapshot.get("diskSizeGb") or 0)
        size = p["size_gb"]
        if size is not None:
            self.check_size_range(size, dtype)
            if source_size and size < source_size:
                raise GcpError(
                    "size_gb: %d GB is smaller than the source (%s, %d GB): a disk cannot be smaller than its "
                    "source; set size_gb to at least %d"
                    % (size, body.get("sourceImage") or body.get("sourceSnapshot"), source_size, source_size)
                )
            body["sizeGb"] = str(size)
        planned_size = size or source_size or int(dtype.get("defaultDiskSizeGb") or 0) or None
        if p["description"]:
            body["description"] = p["description"]
        if p["labels"]:
            body["labels"] = dict(p["labels"])
        self.plan.add(
            "create %s (%s%s%s)"
            % (
                self.what,
                "%d GB " % planned_size if planned_size else "",
                dtype_name,
                " from %s" % (body.get("sourceImage") or body.get("sourceSnapshot"))
                if (image_path or snapshot_path)
                else "",
            ),
            lambda: self.gcp.mutate("disks", "insert_unary", "create", self.what, zone=self.zone, disk_resource=body),
        )
        after = dict(body)
        after["zone"] = "projects/%s/zones/%s" % (self.project, self.zone)
        after["selfLink"] = self_link(self.path)
        after["sizeGb"] = str(planned_size) if planned_size else None
        return after

    def check_size_range(self, size, dtype):
        """The size against the zone's own limits for the type (validDiskSize, e.g. '10GB-65536GB')."""
        match = _VALID_SIZE_RE.match(dtype.get("validDiskSize") or "")
        if match and not int(match.group(1)) <= size <= int(match.group(2)):
            raise GcpError(
                "size_gb: %d GB is outside the sizes zone %s allows for %s (%s): pick a size in that range"
                % (size, self.zone, dtype["name"], dtype["validDiskSize"])
            )

    def check_immutable(self, disk):
        p = self.params
        problems = []
        have_type = basename(disk.get("type"))
        if p["type"] and p["type"] != have_type:
            problems.append("type is %s, not %s" % (have_type, p["type"]))
        have_image = relative(disk.get("sourceImage")) or None
        have_snapshot = relative(disk.get("sourceSnapshot")) or None
        want_image = self.source_image()
        if want_image and "/family/" in want_image:
            # The family was resolved when the disk was made: only its project can be checked.
            want_project = want_image.split("/")[1]
            if not have_image or have_image.split("/")[1] != want_project:
                problems.append(
                    "it was created from %s, not from an image of %s"
                    % (have_image or have_snapshot or "nothing (blank)", want_image)
                )
        elif want_image and have_image != want_image:
            problems.append(
                "it was created from %s, not from image %s"
                % (have_image or have_snapshot or "nothing (blank)", want_image)
            )
        want_snapshot = self.source_snapshot()
        if want_snapshot and have_snapshot != want_snapshot:
            problems.append(
                "it was created from %s, not from snapshot %s"
                % (have_snapshot or have_image or "nothing (blank)", want_snapshot)
            )
        if p["description"] is not None and p["description"] != (disk.get("description") or ""):
            problems.append("its description is %r, not %r" % (disk.get("description") or "", p["description"]))
        if problems:
            raise GcpError(
                "%s cannot be changed in place: %s. These are fixed when a disk is created; the module never "
                "recreates a disk: change the options to match, or snapshot the disk and create a new one"
                % (self.what, "; ".join(problems))
            )

    def plan_resize(self, disk, after):
        want = self.params["size_gb"]
        have = int(disk["sizeGb"])
        if want is None or want == have:
            return
        if want < have:
            raise GcpError(
                "size_gb: %s is %d GB and cannot shrink to %d GB: disks only grow; set size_gb to %d or more"
                % (self.what, have, want, have)
            )
        low_high = DISK_TYPES.get(basename(disk.get("type")))
        if low_high and want > low_high[1]:
            raise GcpError(
                "size_gb: %d GB is more than disk type %s allows (%d GB)"
                % (want, basename(disk.get("type")), low_high[1])
            )
        self.plan.add(
            "grow %s from %d to %d GB" % (self.what, have, want),
            lambda: self.gcp.mutate(
                "disks",
                "resize_unary",
                "resize",
                self.what,
                zone=self.zone,
                disk=self.name,
                disks_resize_request_resource={"sizeGb": str(want)},
            ),
        )
        after["sizeGb"] = str(want)
        hint = (
            "%s grows from %d to %d GB: the filesystem is grown (resize2fs) when the disk is next mounted, "
            "for example at the next boot of the instance" % (self.what, have, want)
        )
        self.result["resize_hint"] = hint
        self.gcp.warnings.append(hint)

    def wanted_labels(self, current):
        labels = self.params["labels"]
        if self.params["purge_labels"]:
            return dict(labels)
        merged = dict(current or {})
        merged.update(labels)
        return merged

    def plan_labels(self, disk, after):
        if self.params["labels"] is None:
            return
        have = dict(disk.get("labels") or {})
        want = self.wanted_labels(have)
        if want == have:
            return

        def write(resource):
            labels = self.wanted_labels(resource.get("labels"))
            body = {"labelFingerprint": resource.get("labelFingerprint", "")}
            if labels:
                body["labels"] = labels
            return self.gcp.mutate(
                "disks",
                "set_labels_unary",
                "set labels of",
                self.what,
                zone=self.zone,
                resource=self.name,
                zone_set_labels_request_resource=body,
            )

        def read():
            fresh = self.read_disk()
            if fresh is None:
                raise GcpError("%s disappeared while its labels were being set: re-run the task" % self.what)
            return fresh

        self.plan.add(
            "set labels of %s to %s (were %s)" % (self.what, _fmt_labels(want), _fmt_labels(have)),
            lambda: with_fresh_fingerprint(disk, read, write),
        )
        after["labels"] = want

    # attachments
    def plan_attachment(self, disk, after, instance, current):
        p = self.params
        users = [basename(u) for u in after.get("users") or []]
        if not p["attached"]:
            if p["instance"] is None:
                # Detach from every user.
                for user in list(users):
                    self.plan_detach(disk, self.read_instance(user))
                after.pop("users", None)
            elif current:
                self.plan_detach(disk, instance)
                after["users"] = [u for u in after.get("users") or [] if basename(u) != p["instance"]]
                self.after_attachment = None
            return
        if p["instance"] is None:
            return
        if current:
            problems = []
            if p["device_name"] and p["device_name"] != current["deviceName"]:
                problems.append("device name %r, not %r" % (current["deviceName"], p["device_name"]))
            if p["mode"] and p["mode"] != current["mode"]:
                problems.append("mode %s, not %s" % (current["mode"], p["mode"]))
            if problems:
                raise GcpError(
                    "%s is attached to instance %r with %s: changing this needs a detach, which the module does not "
                    "do on its own; detach it first (attached: false) and attach it again, or match the options"
                    % (self.what, p["instance"], " and ".join(problems))
                )
            if p["auto_delete"] is not None and p["auto_delete"] != current["autoDelete"]:
                self.plan_auto_delete(current)
            return
        mode = p["mode"] or "READ_WRITE"
        others = [u for u in users if u != p["instance"]]
        if others and mode == "READ_WRITE":
            raise GcpError(
                "%s is attached to instance(s) %s: a READ_WRITE disk attaches to one instance only; detach it "
                "there first (instance: %s, attached: false) or attach it with mode READ_ONLY"
                % (self.what, ", ".join(repr(u) for u in others), others[0])
            )
        device = p["device_name"] or self.name
        taken = [d for d in instance.get("disks") or [] if d.get("deviceName") == device]
        if taken:
            raise GcpError(
                "instance %r already has a disk with device name %r (%s): set another device_name"
                % (p["instance"], device, basename(taken[0].get("source")))
            )
        body = {
            "source": self.path,
            "deviceName": device,
            "mode": mode,
            "autoDelete": bool(p["auto_delete"]),
            "type": "PERSISTENT",
        }
        self.plan.add(
            "attach %s to instance %r as device %r (%s%s)"
            % (self.what, p["instance"], device, mode, ", auto-delete" if p["auto_delete"] else ""),
            lambda: self.gcp.mutate(
                "instances",
                "attach_disk_unary",
                "attach",
                "%s to instance %r" % (self.what, p["instance"]),
                zone=self.zone,
                instance=p["instance"],
                attached_disk_resource=body,
            ),
        )
        users_after = list(after.get("users") or [])
        users_after.append(self_link("projects/%s/zones/%s/instances/%s" % (self.project, self.zone, p["instance"])))
        after["users"] = users_after
        self.after_attachment = {
            "instance": p["instance"],
            "deviceName": device,
            "mode": mode,
            "autoDelete": bool(p["auto_delete"]),
        }

    def plan_auto_delete(self, current):
        value = bool(self.params["auto_delete"])
        instance = current["instance"]
        self.plan.add(
            "set auto-delete of %s on instance %r to %s" % (self.what, instance, str(value).lower()),
            lambda: self.gcp.mutate(
                "instances",
                "set_disk_auto_delete_unary",
                "set auto-delete of",
                "%s on instance %r" % (self.what, instance),
                zone=self.zone,
                instance=instance,
                device_name=current["deviceName"],
                auto_delete=value,
            ),
        )
        self.after_attachment = dict(current, autoDelete=value)

    def plan_detach(self, disk, instance):
        """Add a detach step for each attachment of the disk on ``instance``."""
        if instance is None:
            return
        for attached in instance.get("disks") or []:
            if relative(attached.get("source")) != self.path:
                continue
            device = attached.get("deviceName")
            name = instance["name"]
            self.plan.add(
                "detach %s (device %r) from instance %r" % (self.what, device, name),
                lambda name=name, device=device: self.gcp.mutate(
                    "instances",
                    "detach_disk_unary",
                    "detach",
                    "%s from instance %r" % (self.what, name),
                    zone=self.zone,
                    instance=name,
                    device_name=device,
                ),
            )


def main():
    gcp = GcpModule(
        ARGUMENT_SPEC,
        mutually_exclusive=[("source_image", "source_snapshot", "image_family")],
        required_by={"device_name": "instance", "mode": "instance", "auto_delete": "instance"},
    )
    errors = validate(gcp.params)
    if errors:
        gcp.fail("; ".join(errors))
    gcp.run(lambda gcp: DiskModule(gcp).run())


if __name__ == "__main__":
    main()
