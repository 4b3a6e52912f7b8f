# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The instance body, in the API's JSON form, from the options: one builder for every caller.

``build_instance_body`` is a pure function of the options and of what was looked up for them
(the project, the resolved image, a static address), so that an instance and an instance
template made from the same options are the same machine. The helpers that compute one part
of the wanted state (metadata, labels, scopes, an attached disk) serve the in-place changes too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_metadata import items_of, merged, size_errors
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import qualify, region_of
from ansible_collections.gce.cos.plugins.module_utils._instance.options import (
    ACCESS_CONFIG,
    DEFAULT_BOOT_SIZE_GB,
    DEFAULT_BOOT_TYPE,
    DEFAULT_MACHINE_TYPE,
    DEFAULT_VM_SCOPES,
    IMAGE_LABEL,
    SCHEDULING_OPTIONS,
    SHIELDED_OPTIONS,
    SIZE_HINT,
    machine_type_name,
    metadata_value,
    normalise_scopes,
)
from ansible_collections.gce.cos.plugins.module_utils._vm import vm_contract


def desired_metadata(params, current):
    """The full metadata mapping wanted, from the instance's ``current`` one (gcp_metadata.merged)."""
    wanted = {k: metadata_value(v) for k, v in (params["metadata"] or {}).items()}
    wanted[vm_contract.LOGGING_KEY] = "true" if params["google_logging_enabled"] else "false"
    if params["user_data"] is not None:
        wanted[vm_contract.USER_DATA_KEY] = params["user_data"] or None  # an empty document removes the key

    def keep(key):
        # replace: keys cos_container owns survive, and user-data unless user_data is set.
        return key.startswith(vm_contract.METADATA_PREFIX) or (
            key == vm_contract.USER_DATA_KEY and params["user_data"] is None)

    result = merged(current, wanted, replace=params["metadata_mode"] == "replace", keep=keep)
    where = "instance %r in %s" % (params["name"], params["zone"]) if params["zone"] else "template %r" % params["name"]
    errors = size_errors(result, where, hint=SIZE_HINT)
    if errors:
        raise GcpError("; ".join(errors))
    return result


def desired_labels(params, current):
    """The labels wanted over ``current`` (purge_labels, and the image label always kept)."""
    if params["labels"] is None:
        return current
    result = {} if params["purge_labels"] else dict(current)
    result.update({k: str(v) for k, v in params["labels"].items()})
    if IMAGE_LABEL in current:
        result[IMAGE_LABEL] = current[IMAGE_LABEL]
    return result


def wanted_scopes(params):
    """The scope URLs given (aliases expanded, sorted), or None when not given."""
    sa = params["service_account"] or {}
    return normalise_scopes(sa["scopes"]) if sa.get("scopes") is not None else None


def attached_disk(params, project, disk):
    """The attachedDisk body of one entry of the disks option."""
    return {
        "source": qualify(disk["name"], project, zone=params["zone"], collection="zones/{zone}/disks"),
        "deviceName": disk["device_name"] or disk["name"],
        "mode": disk["mode"],
        "autoDelete": disk["auto_delete"],
    }


def access_config(address=None):
    """The external access config: ephemeral, or the reserved ``address`` (as the API returns it)."""
    access = {"name": ACCESS_CONFIG, "type": "ONE_TO_ONE_NAT"}
    if address is not None:
        access["natIP"] = address["address"]
        if address.get("networkTier"):
            access["networkTier"] = address["networkTier"]
    return access


def scheduling_body(scheduling):
    """The scheduling body of the options given (Spot and preemptible VMs get their defaults)."""
    s = scheduling or {}
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


def build_instance_body(params, project, image_path, image_name, address=None):
    """The instances.insert body of ``params`` (validated, defaults applied).

    ``image_path`` and ``image_name`` are the boot image as resolved (a family resolves to an
    image once, at creation); ``address`` is the reserved static address of external_ip, when
    it names one.
    """
    p = params
    body = instance_properties(p, project, image_path, image_name, address, zone=p["zone"])
    body["name"] = p["name"]
    for disk in p["disks"] or []:
        body["disks"].append(attached_disk(p, project, disk))
    if p["internal_ip"]:
        body["networkInterfaces"][0]["networkIP"] = p["internal_ip"]
    if p["deletion_protection"] is not None:
        body["deletionProtection"] = p["deletion_protection"]
    return body


def instance_properties(params, project, image_path, image_name, address=None, zone=None, region=None):
    """The machine an instance and an instance template share: machine, boot disk, network, metadata, ...

    With a ``zone``, the form of an instance body; without, of a template's properties: machine
    and disk types by name, and a boot disk each VM names after itself. ``region`` is a
    template's region, for a subnetwork given by name.
    """
    p = params
    boot = p["boot_disk"] or {}
    mt = machine_type_name(p["machine_type"], zone) if p["machine_type"] else DEFAULT_MACHINE_TYPE
    disk_type = boot.get("type") or DEFAULT_BOOT_TYPE
    init = {"sourceImage": image_path, "diskSizeGb": str(boot.get("size_gb") or DEFAULT_BOOT_SIZE_GB)}
    if zone:
        init.update(diskName=boot.get("name") or p["name"], diskType="zones/%s/diskTypes/%s" % (zone, disk_type))
    else:
        init["diskType"] = disk_type
    disks = [{"boot": True, "autoDelete": True if boot.get("auto_delete") is None else boot["auto_delete"],
              "initializeParams": init}]
    nic = {"network": qualify(p["network"] or "default", project, collection="global/networks")}
    if p["subnetwork"]:
        region = region_of(zone) if zone else region
        nic["subnetwork"] = qualify(p["subnetwork"], project, collection="regions/%s/subnetworks" % region)
    if (p["external_ip"] or "ephemeral") != "none":
        nic["accessConfigs"] = [access_config(address)]
    labels = {k: str(v) for k, v in (p["labels"] or {}).items()}
    labels[IMAGE_LABEL] = image_name
    body = {
        "machineType": "zones/%s/machineTypes/%s" % (zone, mt) if zone else mt,
        "disks": disks,
        "networkInterfaces": [nic],
        "labels": labels,
        "metadata": {"items": items_of(desired_metadata(p, {}))},
    }
    tags = sorted(set(p["network_tags"] or []))
    if tags:
        body["tags"] = {"items": tags}
    email = (p["service_account"] or {}).get("email") or "default"
    if email != "none":
        scopes = wanted_scopes(p)
        body["serviceAccounts"] = [{"email": email, "scopes": DEFAULT_VM_SCOPES if scopes is None else scopes}]
    sched = scheduling_body(p["scheduling"])
    if sched:
        body["scheduling"] = sched
    shielded = p["shielded_vm"] or {}
    shielded_body = {api: shielded[opt] for opt, api in SHIELDED_OPTIONS if shielded.get(opt) is not None}
    if shielded_body:
        body["shieldedInstanceConfig"] = shielded_body
    if p["description"]:
        body["description"] = p["description"]
    return body


def wanted_scheduling(params, current):
    """The scheduling summary wanted, from the ``current`` one and the options given.

    When the provisioning model changes, maintenance and restart not given take the new model's
    defaults (TERMINATE and no restart for Spot, MIGRATE and restart for standard VMs).
    """
    given = params["scheduling"] or {}
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
