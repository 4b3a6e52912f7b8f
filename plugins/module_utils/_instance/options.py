# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_instance's options: the argument spec, creation defaults, normalisers and the validator.

Nothing here calls the API or imports the client library, so a role or filter on the
controller can check a task's options with ``validate_instance_params`` before anything exists.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_metadata import total_error, value_error
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import (
    basename,
    labels_errors,
    name_error,
    relative,
    zone_error,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_params import raise_input_errors
from ansible_collections.gce.cos.plugins.module_utils._vm import vm_contract

# gcloud's creation defaults for a COS VM (the Console's for the boot disk type).
DEFAULT_MACHINE_TYPE = "e2-medium"
DEFAULT_IMAGE_FAMILY = "cos-stable"
DEFAULT_BOOT_SIZE_GB = 10
DEFAULT_BOOT_TYPE = "pd-balanced"
AUTH = "https://www.googleapis.com/auth/"
# The scopes of a new VM's service account when scopes is not given (gcloud's defaults; not the API's).
DEFAULT_VM_SCOPES = sorted(
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
# Metadata values shown as they are in results and diffs; the others only as a digest.
PUBLIC_METADATA = (
    vm_contract.LOGGING_KEY,
    "google-monitoring-enabled",
    vm_contract.GUEST_ATTRIBUTES_KEY,
    "enable-oslogin",
    "block-project-ssh-keys",
    "serial-port-enable",
    "cos-update-strategy",
)
# What to do when the metadata outgrows the instance (the end of gcp_metadata's size errors).
SIZE_HINT = "Make user_data or the metadata values smaller"

MACHINE_TYPE_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
METADATA_KEY_RE = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
ACCESS_CONFIG = "External NAT"  # the access config name gcloud and the Console use
RUNNING = ("PROVISIONING", "STAGING", "RUNNING", "REPAIRING")
SCHEDULING_OPTIONS = ("preemptible", "provisioning_model", "on_host_maintenance", "automatic_restart")
SHIELDED_OPTIONS = (
    ("secure_boot", "enableSecureBoot"),
    ("vtpm", "enableVtpm"),
    ("integrity_monitoring", "enableIntegrityMonitoring"),
)


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
            out.update(DEFAULT_VM_SCOPES)
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


def instance_errors(p):
    """Every input error of the params ``p``, as messages naming the field, the value and the fix."""
    errors = [name_error("name", p["name"], "instance name"), zone_error("zone", p["zone"])]
    if p["state"] == "absent":
        return [e for e in errors if e]
    return [e for e in errors if e] + properties_errors(p, p["zone"])


def properties_errors(p, zone=None):
    """The errors of the options that describe the machine (shared with instance templates, which have no zone)."""
    errors = []
    if p["machine_type"] is not None and machine_type_name(p["machine_type"], zone) is None:
        errors.append(
            "machine_type: %r is not a machine type %s: use a name such as e2-small or "
            "n2-custom-2-4096" % (p["machine_type"], "of zone %s" % zone if zone else "name")
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
        if disk["device_name"] is not None and not (isinstance(device, str) and vm_contract.NAME_RE.match(device)):
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
    if p["internal_ip"] is not None and not is_ipv4(p["internal_ip"]):
        errors.append("internal_ip: %r is not an IPv4 address" % p["internal_ip"])
    ext = p["external_ip"]
    if ext is not None and ext not in ("ephemeral", "none") and not is_ipv4(ext) and not vm_contract.NAME_RE.match(ext):
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


def is_ipv4(value):
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        return False


def user_data_error(user_data):
    """None, or why COS's cloud-init would not run this document as written (a key it ignores)."""
    from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config

    try:
        cloud_config.check_cos_user_data(user_data, "user_data")
    except cloud_config.CloudConfigError as exc:
        return str(exc)
    return None


def metadata_errors(p):
    errors = []
    given = {}
    for key, value in sorted((p["metadata"] or {}).items()):
        field = "metadata.%s" % key
        if key == vm_contract.USER_DATA_KEY:
            errors.append("%s: set the cloud-init document with the user_data option, not in metadata" % field)
        elif key == vm_contract.LOGGING_KEY:
            errors.append("%s: use the google_logging_enabled option (true or false)" % field)
        elif key == vm_contract.KONLET_KEY:
            errors.append(
                "%s: the konlet container agent is deprecated and not used by gce.cos: deploy the container "
                "with gce.cos.cos_container (its migrate option converts an existing declaration)" % field
            )
        elif key.startswith(vm_contract.METADATA_PREFIX):
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
        errors.append(user_data_error(p["user_data"]))
        given[vm_contract.USER_DATA_KEY] = p["user_data"]
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


def validate_instance_params(params):
    """Raise InvalidParams naming every bad option of cos_instance's ``params`` (defaults applied)."""
    raise_input_errors(instance_errors(params))


BOOT_DISK_TYPES = [
    "pd-standard",
    "pd-balanced",
    "pd-ssd",
    "pd-extreme",
    "hyperdisk-balanced",
    "hyperdisk-extreme",
    "hyperdisk-throughput",
    "hyperdisk-ml",
]

ARGUMENT_SPEC = dict(
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
            type=dict(type="str", choices=BOOT_DISK_TYPES),
            auto_delete=dict(type="bool"),
        ),
    ),
    disks=dict(
        type="list",
        elements="dict",
        options=dict(
            name=dict(type="str", required=True),
            device_name=dict(type="str"),
            mode=dict(type="str", choices=["READ_WRITE", "READ_ONLY"], default="READ_WRITE"),
            auto_delete=dict(type="bool", default=False),
        ),
    ),
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
    restart_for_user_data=dict(type="bool", default=False),
    require_agent=dict(type="bool", default=False),
)
# AnsibleModule's keyword arguments that go with ARGUMENT_SPEC.
ARGUMENT_RULES = dict(mutually_exclusive=[("image", "image_family")])
