# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""An instance as the collection shows it, for cos_instance and cos_instance_info alike.

Names instead of URLs, snake_case keys, and metadata values only for a few public keys (the
others as a digest, so a change shows without its content).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_metadata import metadata_dict
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import basename
from ansible_collections.gce.cos.plugins.module_utils._instance.options import IMAGE_LABEL, PUBLIC_METADATA


def digest(value):
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def metadata_view(metadata):
    """The summary fields of a {key: value} metadata mapping: its keys, and values or digests."""
    return {
        "metadata_keys": sorted(metadata),
        "metadata": {k: (v if k in PUBLIC_METADATA else digest(v)) for k, v in sorted(metadata.items())},
    }


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
    out.update(metadata_view(metadata))
    if boot:
        out["boot_disk"] = {
            "name": basename(boot.get("source")),
            "device_name": boot.get("deviceName"),
            "size_gb": int(boot["diskSizeGb"]) if boot.get("diskSizeGb") else None,
            "auto_delete": bool(boot.get("autoDelete")),
        }
    return out


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
