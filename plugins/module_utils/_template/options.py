# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_instance_template's options: the argument spec, the validator, and the instance options they make.

A template holds the same machine as cos_instance makes, so its options are cos_instance's
(less those of one VM's identity and life: name, zone, power state, a fixed IP, existing disks)
plus the template's own: the name prefix, the region, the versions kept, new disks per VM and
the containers. Nothing here calls the API.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.gce.cos.plugins.module_utils import container_spec
from ansible_collections.gce.cos.plugins.module_utils._container.request import build_all, list_specs
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_metadata import total_error
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import name_error, region_error
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_params import raise_input_errors
from ansible_collections.gce.cos.plugins.module_utils._instance.options import (
    ARGUMENT_SPEC as INSTANCE_SPEC,
)
from ansible_collections.gce.cos.plugins.module_utils._instance.options import (
    BOOT_DISK_TYPES,
    SIZE_HINT,
    properties_errors,
)
from ansible_collections.gce.cos.plugins.module_utils._vm import vm_contract

HASH_LENGTH = 10  # hex digits of the SHA-256 of the canonical properties in a version's name
MAX_PREFIX = 63 - HASH_LENGTH - 1
DEFAULT_KEEP = 3
DEFAULT_DISK_SIZE_GB = 10

# cos_instance options that describe one VM, not the machine every VM of a template gets.
INSTANCE_ONLY = (
    "name",
    "zone",
    "state",
    "purge_labels",
    "metadata_mode",
    "allow_stopping_for_update",
    "restart_for_user_data",
    "require_agent",
    "deletion_protection",
    "internal_ip",
    "external_ip",
    "disks",
    "boot_disk",
)

ARGUMENT_SPEC = {key: copy.deepcopy(value) for key, value in INSTANCE_SPEC.items() if key not in INSTANCE_ONLY}
ARGUMENT_SPEC.update(
    name_prefix=dict(type="str", required=True),
    region=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    keep=dict(type="int", default=DEFAULT_KEEP),
    external_ip=dict(type="str", choices=["ephemeral", "none"], default="ephemeral"),
    boot_disk=dict(
        type="dict",
        options={k: v for k, v in copy.deepcopy(INSTANCE_SPEC["boot_disk"]["options"]).items() if k != "name"},
    ),
    disks=dict(
        type="list",
        elements="dict",
        options=dict(
            device_name=dict(type="str", required=True),
            size_gb=dict(type="int", default=DEFAULT_DISK_SIZE_GB),
            type=dict(type="str", choices=BOOT_DISK_TYPES, default="pd-balanced"),
            mode=dict(type="str", choices=["READ_WRITE", "READ_ONLY"], default="READ_WRITE"),
            auto_delete=dict(type="bool", default=True),
        ),
    ),
    containers=dict(type="list", elements="dict", options=container_spec.argument_spec()),
)
ARGUMENT_RULES = dict(mutually_exclusive=[("image", "image_family")])


def instance_params(p):
    """The cos_instance params of the machine the template describes (for the shared validator and builder)."""
    out = {key: p.get(key) for key in INSTANCE_SPEC}
    boot = dict(p["boot_disk"] or {}, name=None)
    metadata = {k: v for k, v in (p["metadata"] or {}).items() if k != vm_contract.KONLET_KEY}
    out.update(
        name=p["name_prefix"],
        zone=None,
        state="present",
        boot_disk=boot,
        disks=None,
        internal_ip=None,
        deletion_protection=None,
        metadata=metadata,
        metadata_mode="replace",
        purge_labels=True,
    )
    return out


def template_errors(p):
    """(errors, container builds) of the params ``p``, each error naming the field, the value and the fix."""
    errors = [name_error("name_prefix", p["name_prefix"], "template name prefix")]
    if isinstance(p["name_prefix"], str) and len(p["name_prefix"]) > MAX_PREFIX:
        errors.append(
            "name_prefix: %r has %d characters; a prefix may have at most %d, so that '-' and the %d hex "
            "digits of the version fit in a name" % (p["name_prefix"], len(p["name_prefix"]), MAX_PREFIX, HASH_LENGTH)
        )
    if p["region"] is not None:
        errors.append(region_error("region", p["region"]))
    if p["keep"] < 1:
        errors.append("keep: %d: keep at least 1 version (the current one)" % p["keep"])
    if p["state"] == "absent":
        return [e for e in errors if e], []
    if vm_contract.KONLET_KEY in (p["metadata"] or {}):
        errors.append(
            "metadata.%s: templates with a konlet declaration are refused (konlet is deprecated, and the "
            "org policy constraints/compute.managed.disableVmsWithContainerStartupAgent blocks them): give the "
            "containers in this module's containers option; the spec of an existing declaration comes out of "
            "gce.cos.cos_container with migrate: true on a VM that runs it" % vm_contract.KONLET_KEY
        )
    errors.extend(properties_errors(instance_params(p)))
    subnetwork = p["subnetwork"]
    if subnetwork is not None and "/" not in subnetwork and p["region"] is None:
        errors.append(
            "subnetwork: %r: a global template names its subnetwork with the region: use "
            "regions/REGION/subnetworks/%s, or set region" % (subnetwork, subnetwork)
        )
    devices = set()
    for i, disk in enumerate(p["disks"] or []):
        field = "disks[%d]" % i
        device = disk["device_name"]
        if not (isinstance(device, str) and vm_contract.NAME_RE.match(device)):
            errors.append("%s.device_name: %r is not a valid device name (RFC1035)" % (field, device))
        elif device in devices:
            errors.append("%s.device_name: device name %r is used twice" % (field, device))
        devices.add(device)
        if not 1 <= disk["size_gb"] <= 65536:
            errors.append("%s.size_gb: %s is not a possible disk size: use 1 to 65536 (GB)" % (field, disk["size_gb"]))
    builds, build_errors = build_all(list_specs(p["containers"]))
    errors.extend(build_errors)
    if builds:  # the units count towards the metadata's total size too
        given = {k: v for k, v in (p["metadata"] or {}).items() if isinstance(v, str)}
        given.update({b["metadata_key"]: b["unit"] for b in builds})
        given[vm_contract.USER_DATA_KEY] = p["user_data"] or ""
        errors.append(total_error(given, "template %r" % p["name_prefix"], hint=SIZE_HINT))
    return [e for e in errors if e], builds


def validate_template_params(params):
    """Raise InvalidParams naming every bad option of cos_instance_template's ``params`` (defaults applied)."""
    raise_input_errors(template_errors(params)[0])


def container_builds(params):
    """The containers' container_unit.build results (the params are valid)."""
    return template_errors(params)[1]


def agent_missing(params):
    """Whether containers are given with a user_data that does not install the cos agent, which runs them."""
    return bool(params["containers"]) and vm_contract.AGENT_PATH not in (params["user_data"] or "")
