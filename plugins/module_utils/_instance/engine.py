# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_instance's engine: read the instance, plan the calls between it and the options, run the plan.

A missing instance gets one insert of ``build_instance_body``; an existing one is checked against
the refusals, then reconciled with the in-place change rows, the metadata, disk and external IP
steps, and the power steps. The plan keeps the before/after summaries: check mode is the plan
not run, the diff its before/after.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_metadata import metadata_dict, set_metadata
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import basename
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_plan import Plan
from ansible_collections.gce.cos.plugins.module_utils._instance.api import InstanceApi
from ansible_collections.gce.cos.plugins.module_utils._instance.body import (
    access_config,
    attached_disk,
    build_instance_body,
    desired_metadata,
)
from ansible_collections.gce.cos.plugins.module_utils._instance.changes import (
    DELETION_PROTECTION,
    DESCRIPTION,
    LABELS,
    NETWORK_TAGS,
    SCHEDULING,
    STOPPED_CHANGES,
    describe_changes,
)
from ansible_collections.gce.cos.plugins.module_utils._instance.options import (
    ACCESS_CONFIG,
    RUNNING,
    SIZE_HINT,
    validate_instance_params,
)
from ansible_collections.gce.cos.plugins.module_utils._instance.refusals import refusals
from ansible_collections.gce.cos.plugins.module_utils._instance.summary import diff_view, metadata_view, summarize
from ansible_collections.gce.cos.plugins.module_utils._vm import vm_contract


def converge(gcp):
    """cos_instance's run: validate the options, then reconcile the instance and exit."""
    validate_instance_params(gcp.params)
    CosInstance(gcp).run()


def predicted_instance(body, zone):
    """The instance an insert of ``body`` makes, as far as it is known before it exists."""
    predicted = copy.deepcopy(body)
    predicted.update(zone=zone, status="RUNNING")
    boot = predicted["disks"][0]
    init = boot.pop("initializeParams")
    boot.update(source=init["diskName"], diskSizeGb=init["diskSizeGb"], deviceName="persistent-disk-0")
    for i, disk in enumerate(predicted["disks"][1:], 1):
        disk.setdefault("deviceName", "persistent-disk-%d" % i)
    return predicted


class CosInstance:
    def __init__(self, gcp):
        self.gcp = gcp
        self.p = gcp.params
        self.api = InstanceApi(gcp, self.p["name"], self.p["zone"])
        self.short = self.api.short
        self.what = self.api.what
        self.image = None
        # (before, after) of the user-data when the task changes it on an existing instance.
        self.user_data_change = None
        # True when a changed user-data waits for the VM's next boot (the VM runs and is not restarted).
        self.pending_boot = False

    def run(self):
        p = self.p
        state = p["state"]
        actual = self.api.read()
        if state == "absent":
            return self.absent(actual)
        have = summarize(actual)
        plan = Plan(before=have)
        if actual is None:
            self.plan_create(plan)
            if state == "stopped":
                plan.add("stop %s" % self.short, self.api.stop, after={"status": "TERMINATED"})
        else:
            self.image = have["image"]
            refused = refusals(p, actual, self.api.project)
            if refused:
                raise GcpError("; ".join(refused))
            self.plan_update(plan, actual, have)
            self.plan_power(plan, actual, have)
            self.plan_row(plan, DELETION_PROTECTION, actual, have)
        plan.execute(self.gcp.check_mode)
        if plan.changed and not self.gcp.check_mode:
            final = summarize(self.api.must_read())
        else:
            final = plan.after if plan.changed else have
        self.finish(plan, final, created=actual is None)

    # create -------------------------------------------------------------------------------------
    def plan_create(self, plan):
        p = self.p
        zone = self.api.elsewhere()
        if zone:
            raise GcpError(
                "zone: instance %r exists in %s, not %s; an instance cannot move to another zone: use zone: %s, "
                "or delete it there first (state: absent), or choose another name"
                % (p["name"], zone, p["zone"], zone)
            )
        image_path, self.image = self.api.resolve_image(p)
        ext = p["external_ip"]
        address = self.api.static_address(ext) if ext not in (None, "ephemeral", "none") else None
        body = build_instance_body(p, self.api.project, image_path, self.image, address)
        plan.add(
            "create %s from image %s (%s)" % (self.what, self.image, basename(body["machineType"])),
            lambda: self.gcp.mutate(
                "instances", "insert_unary", doing="create " + self.what, zone=p["zone"], instance_resource=body
            ),
            becomes=summarize(predicted_instance(body, p["zone"])),
        )

    # reconcile ----------------------------------------------------------------------------------
    def plan_row(self, plan, row, actual, have):
        """One step for an in-place change row whose field differs."""
        want = row.wanted(self.p, have)
        if want == have[row.field]:
            return
        plan.add(
            row.describe(self.short, have[row.field], want),
            lambda: self.api.apply(row, self.p, actual, want),
            after={row.field: want},
        )

    def plan_update(self, plan, actual, have):
        # The description first, while the instance fingerprint read is fresh.
        self.plan_row(plan, DESCRIPTION, actual, have)
        self.plan_external_ip(plan, actual, have)
        self.plan_row(plan, SCHEDULING, actual, have)
        self.plan_metadata(plan, actual)
        self.plan_row(plan, LABELS, actual, have)
        self.plan_row(plan, NETWORK_TAGS, actual, have)
        self.plan_disks(plan, have)
        self.plan_boot_growth(plan, have)
        self.plan_auto_delete(plan, have)

    def plan_metadata(self, plan, actual):
        """Fingerprinted read-modify-write, rebuilt from a fresh read on 412 (gcp_metadata.set_metadata)."""
        p = self.p
        current = metadata_dict(actual)
        wanted = desired_metadata(p, current)
        if wanted == current:
            return
        if wanted.get(vm_contract.USER_DATA_KEY) != current.get(vm_contract.USER_DATA_KEY):
            self.user_data_change = (current.get(vm_contract.USER_DATA_KEY) or "",
                                     wanted.get(vm_contract.USER_DATA_KEY) or "")
        plan.add(
            "set metadata of %s: %s" % (self.short, describe_changes(current, wanted, secret=True)),
            lambda: set_metadata(
                self.gcp, p["zone"], p["name"], actual, lambda cur: desired_metadata(p, cur), self.api.must_read,
                hint=SIZE_HINT,
            ),
            after=metadata_view(wanted),
        )

    def plan_disks(self, plan, have):
        """The disks option is the complete list: detach the others, attach the missing ones."""
        p = self.p
        if p["disks"] is None:
            return
        wanted = {d["name"] for d in p["disks"]}
        attached = {d["name"]: d for d in have["disks"]}
        disks = list(have["disks"])
        for name in sorted(set(attached) - wanted):
            device = attached[name]["device_name"]
            disks = [d for d in disks if d["device_name"] != device]
            plan.add(
                "detach disk %r (device %r) from %s" % (name, device, self.short),
                lambda device=device: self.api.call("detach_disk_unary", "detach disk %r" % device, device_name=device),
                after={"disks": disks},
            )
        for disk in p["disks"]:
            if disk["name"] in attached:
                continue
            body = attached_disk(p, self.api.project, disk)
            entry = {"name": disk["name"], "device_name": body["deviceName"], "mode": body["mode"],
                     "auto_delete": bool(body["autoDelete"])}
            disks = sorted([*disks, entry], key=lambda d: d["name"])
            plan.add(
                "attach disk %r to %s as device %r (%s)" % (disk["name"], self.short, body["deviceName"], body["mode"]),
                lambda body=body, name=disk["name"]: self.api.call(
                    "attach_disk_unary", "attach disk %r" % name, attached_disk_resource=body
                ),
                after={"disks": disks},
            )

    def plan_boot_growth(self, plan, have):
        boot = self.p["boot_disk"] or {}
        hb = have["boot_disk"] or {}
        if not (boot.get("size_gb") and hb.get("size_gb") and boot["size_gb"] > hb["size_gb"]):
            return
        disk_name, size, zone = hb["name"], boot["size_gb"], self.p["zone"]
        plan.add(
            "grow boot disk %r of %s from %s to %s GB" % (disk_name, self.short, hb["size_gb"], size),
            lambda: self.gcp.mutate(
                "disks", "resize_unary", doing="grow boot disk %r in %s" % (disk_name, zone),
                zone=zone, disk=disk_name, disks_resize_request_resource={"sizeGb": str(size)},
            ),
            after={"boot_disk.size_gb": size},
        )

    def plan_auto_delete(self, plan, have):
        """Auto-delete of attached disks (boot and additional): setDiskAutoDelete, by device name."""
        boot = self.p["boot_disk"] or {}
        hb = have["boot_disk"] or {}
        wanted = {}
        if boot.get("auto_delete") is not None and hb and boot["auto_delete"] != hb["auto_delete"]:
            wanted[hb["device_name"]] = (hb["name"], boot["auto_delete"])
        attached = {d["name"]: d for d in have["disks"]}
        for disk in self.p["disks"] or []:
            found = attached.get(disk["name"])
            if found and disk["auto_delete"] != found["auto_delete"]:
                wanted[found["device_name"]] = (disk["name"], disk["auto_delete"])
        for device, (disk_name, on) in sorted(wanted.items()):
            if hb and device == hb["device_name"]:
                after = {"boot_disk.auto_delete": on}
            else:
                after = {"disks": [dict(d, auto_delete=on) if d["device_name"] == device else d
                                   for d in plan.after["disks"]]}
            plan.add(
                "%s auto-delete of disk %r (device %r) of %s"
                % ("enable" if on else "disable", disk_name, device, self.short),
                lambda device=device, on=on: self.api.call(
                    "set_disk_auto_delete_unary", "set auto-delete of device %r" % device,
                    device_name=device, auto_delete=on,
                ),
                after=after,
            )

    def plan_external_ip(self, plan, actual, have):
        """none, ephemeral or static on the first interface: deleteAccessConfig, then addAccessConfig."""
        ext = self.p["external_ip"]
        if ext is None:
            return
        nic = (actual.get("networkInterfaces") or [{}])[0]
        access = (nic.get("accessConfigs") or [None])[0]
        current = have["external_ip"]
        add = None  # the access config to add, if any
        added = "an ephemeral external IP"
        if ext == "ephemeral":
            if current is None or self.api.is_static(current):
                add = access_config()
        elif ext != "none":
            address = self.api.static_address(ext)
            if address["address"] != current:
                add = access_config(address)
                added = "static external IP %s (address %r)" % (address["address"], address["name"])
        nic_name = nic.get("name", "nic0")
        if access is not None and (ext == "none" or add is not None):
            ac_name = access.get("name", ACCESS_CONFIG)
            plan.add(
                "remove external IP %s of %s (access config %r)" % (current, self.short, ac_name),
                lambda: self.api.call(
                    "delete_access_config_unary", "remove external IP", network_interface=nic_name,
                    access_config=ac_name,
                ),
                after={"external_ip": None},
            )
        if add:
            plan.add(
                "add %s to %s" % (added, self.short),
                lambda: self.api.call(
                    "add_access_config_unary", "add external IP", network_interface=nic_name,
                    access_config_resource=add,
                ),
                # A new ephemeral address is known only once assigned.
                after={"external_ip": add.get("natIP", "ephemeral")},
            )

    # power --------------------------------------------------------------------------------------
    def add_stop(self, plan, why=""):
        plan.add("stop %s%s" % (self.short, why), self.api.stop)

    def add_start(self, plan, why="", stopping=False):
        plan.add("start %s%s" % (self.short, why), lambda: self.api.start(stopping))

    def stopped_changes(self, actual, have):
        """[(option, description, run, after)] of the change rows that need a stopped VM and differ."""
        changes = []
        for row in STOPPED_CHANGES:
            want = row.wanted(self.p, have)
            if want == have[row.field]:
                continue
            changes.append((
                row.option_for(have[row.field], want),
                row.describe(self.short, have[row.field], want),
                lambda row=row, want=want: self.api.apply(row, self.p, actual, want),
                {row.field: want},
            ))
        return changes

    def plan_power(self, plan, actual, have):
        p = self.p
        state = p["state"]
        status = have["status"]
        stopping = status in ("STOPPING", "SUSPENDING")
        if status in ("SUSPENDED", "SUSPENDING") and state in ("started", "restarted"):
            raise GcpError("%s is %s: resume it first (gcloud compute instances resume)" % (self.what, status))
        running = status in RUNNING
        changes = self.stopped_changes(actual, have)
        fields = ", ".join(option for option, _d, _r, _a in changes)
        if changes and running and not p["allow_stopping_for_update"]:
            raise GcpError(
                "%s: changing %s of %s needs the VM stopped; set allow_stopping_for_update: true to let the module "
                "stop and start it (it is down meanwhile), or stop it first (state: stopped)"
                % (fields, fields, self.what)
            )
        # The power state the task ends in.
        end_running = running if state == "present" else state in ("started", "restarted")
        restarted = False
        if changes:
            if running:
                self.add_stop(plan, " to change %s" % fields)
                restarted = True
            for _option, description, run, after in changes:
                if stopping:
                    plan.add(description, lambda run=run: (self.api.wait_stopped(), run())[1], after=after)
                    stopping = False
                else:
                    plan.add(description, run, after=after)
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
                restarted = True
            else:
                self.add_start(plan, stopping=stopping)
        if self.user_data_change and running and end_running and not restarted:
            self.plan_user_data_boot(plan)
        plan.record({"status": "RUNNING" if end_running else "TERMINATED"})

    def plan_user_data_boot(self, plan):
        """A running VM whose user-data changes: cloud-init applies it only at a boot."""
        from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config

        before, after = self.user_data_change
        adds_agent = cloud_config.has_agent(after) and not cloud_config.has_agent(before)
        if self.p["restart_for_user_data"]:
            why = " so that cloud-init applies the new user-data%s" % (
                " and the cos agent starts" if adds_agent else "")
            self.add_stop(plan, why)
            self.add_start(plan)
            return
        if adds_agent and self.p["require_agent"]:
            raise GcpError(
                "%s runs without the cos agent: the new user-data installs it, but cloud-init runs only at a boot, "
                "so nothing would run the containers; set restart_for_user_data: true to stop and start the VM once "
                "now (it is down meanwhile), or restart it yourself and run again" % self.what
            )
        self.pending_boot = True
        self.gcp.warnings.append(
            "the user-data of %s changes, and cloud-init applies it only at the next boot%s: set "
            "restart_for_user_data: true to stop and start the VM once now, or restart it when convenient"
            % (self.what, " - the cos agent it installs does not run until then, so no container starts"
               if adds_agent else "")
        )

    # delete -------------------------------------------------------------------------------------
    def absent(self, actual):
        p = self.p
        have = summarize(actual)
        plan = Plan(before=have)
        if actual is not None:
            if have["deletion_protection"]:
                if p["deletion_protection"] is not False:
                    raise GcpError(
                        "delete %s: deletion protection is on; set deletion_protection: false with state: absent "
                        "to turn it off and delete the instance" % self.what
                    )
                plan.add(
                    DELETION_PROTECTION.describe(self.short, True, False),
                    lambda: self.api.apply(DELETION_PROTECTION, p, actual, False),
                )
            plan.add("delete %s" % self.what, self.api.delete, becomes={})
        plan.execute(self.gcp.check_mode)
        self.image = have.get("image")
        self.finish(plan, {}, created=False)

    def finish(self, plan, instance, created):
        result = dict(
            changed=plan.changed,
            actions=plan.descriptions,
            diff=plan.diff(view=lambda summary: diff_view(summary, created=created)),
            instance=instance,
            pending_boot=self.pending_boot,
        )
        if self.user_data_change:
            # The user-data as text, line by line (it holds no secret: cos_instance's docs say to keep them out).
            before, after = self.user_data_change
            result["diff"]["before"]["user_data"] = before.splitlines()
            result["diff"]["after"]["user_data"] = after.splitlines()
        if self.image:
            result["image"] = self.image
        self.gcp.exit(**result)
