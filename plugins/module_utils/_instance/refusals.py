# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""What cos_instance refuses to change on an existing instance, each refusal naming the field and the way out.

The API cannot change these in place (or the module does not, because it never deletes and
recreates a VM on its own); every refusal is found before the first change is sent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import basename, qualify, relative
from ansible_collections.gce.cos.plugins.module_utils._instance.body import wanted_scheduling
from ansible_collections.gce.cos.plugins.module_utils._instance.options import IMAGE_LABEL
from ansible_collections.gce.cos.plugins.module_utils._instance.summary import summarize


def refusals(params, actual, project):
    """The refusals for ``params`` against the instance ``actual`` (API form), as messages."""
    p = params
    short = "instance %r" % p["name"]
    messages = []

    def refuse(field, have_value, want, why):
        messages.append("%s: %s has %s, wanted %s; %s" % (field, short, have_value, want, why))

    have = summarize(actual)
    if p["image"]:
        want = basename(relative(p["image"]))
        label = (actual.get("labels") or {}).get(IMAGE_LABEL)
        if label and label != want:
            refuse(
                "image",
                label,
                want,
                "the boot disk cannot be re-imaged in place: delete the instance (state: absent) and "
                "create it again, or leave image unset",
            )
    if p["network"] and relative(qualify(p["network"], project, collection="global/networks")) != relative(
        (actual.get("networkInterfaces") or [{}])[0].get("network", "")
    ):
        refuse(
            "network",
            have["network"],
            basename(p["network"]),
            "the network of an existing interface cannot change: recreate the instance",
        )
    if p["subnetwork"] and basename(p["subnetwork"]) != have["subnetwork"]:
        refuse(
            "subnetwork",
            have["subnetwork"],
            basename(p["subnetwork"]),
            "the subnetwork of an existing interface cannot change here: recreate the instance",
        )
    if p["internal_ip"] and p["internal_ip"] != have["internal_ip"]:
        refuse(
            "internal_ip",
            have["internal_ip"],
            p["internal_ip"],
            "the internal address cannot change here: recreate the instance",
        )
    boot = p["boot_disk"] or {}
    hb = have["boot_disk"] or {}
    if boot.get("name") and boot["name"] != hb.get("name"):
        refuse("boot_disk.name", hb.get("name"), boot["name"], "the boot disk cannot be swapped here")
    if boot.get("size_gb") and hb.get("size_gb") and boot["size_gb"] < hb["size_gb"]:
        refuse("boot_disk.size_gb", hb["size_gb"], boot["size_gb"], "a disk can only grow")
    sched = wanted_scheduling(p, have["scheduling"])
    if sched["preemptible"] != have["scheduling"]["preemptible"]:
        refuse(
            "scheduling.preemptible",
            have["scheduling"]["preemptible"],
            sched["preemptible"],
            "the API cannot change the preemptibility of a VM: recreate the instance (for a new VM, prefer "
            "provisioning_model: SPOT, which can change on a stopped VM)",
        )
    elif sched["preemptible"] or sched["provisioning_model"] == "SPOT":
        what = "preemptible" if sched["preemptible"] else "Spot"
        if sched["on_host_maintenance"] != "TERMINATE":
            refuse(
                "scheduling.on_host_maintenance",
                have["scheduling"]["on_host_maintenance"],
                sched["on_host_maintenance"],
                "a %s VM cannot migrate: use TERMINATE" % what,
            )
        if sched["automatic_restart"]:
            refuse(
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
            refuse(
                field + ".device_name",
                found["device_name"],
                disk["device_name"],
                "remove the disk from disks to detach it, then add it back",
            )
        if disk["mode"] != found["mode"]:
            refuse(
                field + ".mode",
                found["mode"],
                disk["mode"],
                "remove the disk from disks to detach it, then add it back",
            )
    return messages
