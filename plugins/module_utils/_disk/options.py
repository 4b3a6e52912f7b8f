# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_disk's options: the argument spec, the disk types' size limits and the validator.

Nothing here calls the API, so a role or filter can check a task's options with
``validate_disk_params`` before any disk exists.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import labels_errors, name_error, zone_error
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_params import raise_input_errors

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
VALID_SIZE_RE = re.compile(r"^(\d+)GB-(\d+)GB$")

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


def disk_errors(params):
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


def validate_disk_params(params):
    """Raise InvalidParams naming every bad option of cos_disk's ``params`` (defaults applied)."""
    raise_input_errors(disk_errors(params))


# AnsibleModule's keyword arguments that go with ARGUMENT_SPEC.
ARGUMENT_RULES = dict(
    mutually_exclusive=[("source_image", "source_snapshot", "image_family")],
    required_by={"device_name": "instance", "mode": "instance", "auto_delete": "instance"},
)
