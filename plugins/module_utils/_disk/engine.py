# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_disk's engine: read the disk (and the instance it goes on), plan create, resize, labels,
attach and detach, and run the plan. The plan keeps the before/after summaries.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._disk.options import (
    DISK_TYPES,
    VALID_SIZE_RE,
    validate_disk_params,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import basename, qualify, relative, self_link
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_operations import with_fresh_fingerprint
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_plan import Plan
from ansible_collections.gce.cos.plugins.module_utils._instance.api import InstanceApi


def converge(gcp):
    """cos_disk's run: validate the options, then reconcile the disk and exit."""
    validate_disk_params(gcp.params)
    DiskModule(gcp).run()


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


class DiskModule:
    def __init__(self, gcp):
        self.gcp = gcp
        self.params = gcp.params
        self.name = self.params["name"]
        self.zone = self.params["zone"]
        self.project = gcp.api.project
        self.path = "projects/%s/zones/%s/disks/%s" % (self.project, self.zone, self.name)
        self.what = "disk %r in %s" % (self.name, self.zone)
        self.plan = None
        self.with_attachment = self.params["instance"] is not None
        self.result = {}

    # reads
    def read_disk(self):
        return self.gcp.api.get("disks", doing="read " + self.what, project=self.project, zone=self.zone,
                                disk=self.name)

    def on_instance(self, name):
        """The calls on instance ``name`` of the disk's zone (reads, attach, detach, auto-delete)."""
        return InstanceApi(self.gcp, name, self.zone)

    def read_instance(self, name):
        return self.on_instance(name).read()

    # the run
    def run(self):
        disk = self.read_disk()
        if self.params["state"] == "absent":
            self.plan_absent(disk)
        else:
            self.plan_present(disk)
        self.plan.execute(self.gcp.check_mode)
        self.finish()

    def finish(self):
        p = self.params
        if p["state"] == "absent":
            final = {}
        elif self.gcp.check_mode or not self.plan.changed:
            final = self.plan.after
        else:
            # Read back what the API made (status, defaults); the attachment is what the plan set.
            fresh = self.read_disk()
            final = summary(fresh, self.plan.after.get("attachment"), with_attachment=self.with_attachment)
        self.gcp.exit(
            changed=self.plan.changed,
            actions=self.plan.descriptions,
            diff=self.plan.diff(view=for_diff),
            disk=final,
            **self.result
        )

    # state=absent
    def plan_absent(self, disk):
        self.plan = Plan(before=summary(disk), after={})
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
            self.plan_detach(self.read_instance(user))
        self.plan.add(
            "delete %s" % self.what,
            lambda: self.gcp.mutate("disks", "delete_unary", doing="delete " + self.what, zone=self.zone,
                                    disk=self.name),
        )

    # state=present
    def plan_present(self, disk):
        p = self.params
        instance = None
        if p["instance"]:
            instance = self.read_instance(p["instance"])
            if instance is None and p["attached"]:
                raise GcpError(
                    "instance %r not found in %s: disk %r cannot be attached to it; create the instance first "
                    "(gce.cos.cos_instance) or check the instance and zone" % (p["instance"], self.zone, self.name)
                )
        before_attachment = attachment_of(instance, self.path) if instance else None
        self.plan = Plan(before=summary(disk, before_attachment, self.with_attachment) if disk else {})
        if disk is None:
            self.plan_create()
        else:
            self.check_immutable(disk)
            self.plan_resize(disk)
            self.plan_labels(disk)
        self.plan_attachment(instance, before_attachment)

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
                found = self.gcp.api.call("images", "get_from_family", doing="read " + what, project=parts[1],
                                          family=parts[5])
            except GcpError as exc:
                if exc.status != 404:
                    raise
                found = None
        elif len(parts) == 5 and parts[2:4] == ["global", "images"]:
            found = self.gcp.api.get("images", doing="read " + what, project=parts[1], image=parts[4])
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
            "disk_types", doing="read disk type %r in %s" % (dtype_name, self.zone),
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
                "snapshots", doing="read snapshot %s" % snapshot_path, project=parts[1], snapshot=parts[4]
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
            lambda: self.gcp.mutate("disks", "insert_unary", doing="create " + self.what, zone=self.zone,
                                    disk_resource=body),
            after=summary(
                dict(body, zone=self.zone, selfLink=self_link(self.path), sizeGb=planned_size),
                with_attachment=self.with_attachment,
            ),
        )

    def check_size_range(self, size, dtype):
        """The size against the zone's own limits for the type (validDiskSize, e.g. '10GB-65536GB')."""
        match = VALID_SIZE_RE.match(dtype.get("validDiskSize") or "")
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

    def plan_resize(self, disk):
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
                "disks", "resize_unary", doing="resize " + self.what,
                zone=self.zone,
                disk=self.name,
                disks_resize_request_resource={"sizeGb": str(want)},
            ),
            after={"sizeGb": want},
        )
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

    def plan_labels(self, disk):
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
                "disks", "set_labels_unary", doing="set labels of " + self.what,
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
            after={"labels": want},
        )

    # attachments
    def plan_attachment(self, instance, current):
        p = self.params
        users = list(self.plan.after.get("users") or [])
        if not p["attached"]:
            if p["instance"] is None:
                # Detach from every user.
                for user in users:
                    self.plan_detach(self.read_instance(user))
                self.plan.record({"users": []})
            elif current:
                self.plan_detach(instance)
                self.plan.record({"users": [u for u in users if u != p["instance"]], "attachment": {}})
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
            lambda: self.on_instance(p["instance"]).call(
                "attach_disk_unary", "attach", subject="%s to instance %r" % (self.what, p["instance"]),
                attached_disk_resource=body,
            ),
            after={
                "users": [*users, p["instance"]],
                "attachment": {
                    "instance": p["instance"],
                    "deviceName": device,
                    "mode": mode,
                    "autoDelete": bool(p["auto_delete"]),
                },
            },
        )

    def plan_auto_delete(self, current):
        value = bool(self.params["auto_delete"])
        instance = current["instance"]
        self.plan.add(
            "set auto-delete of %s on instance %r to %s" % (self.what, instance, str(value).lower()),
            lambda: self.on_instance(instance).call(
                "set_disk_auto_delete_unary", "set auto-delete of", subject="%s on instance %r" % (self.what, instance),
                device_name=current["deviceName"], auto_delete=value,
            ),
            after={"attachment": dict(current, autoDelete=value)},
        )

    def plan_detach(self, instance):
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
                lambda name=name, device=device: self.on_instance(name).call(
                    "detach_disk_unary", "detach", subject="%s from instance %r" % (self.what, name),
                    device_name=device,
                ),
            )
