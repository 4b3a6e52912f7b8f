# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_container's engine: the desired metadata, the plan, the konlet migration and the wait for the agent."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.gce.cos.plugins.module_utils import container_spec
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_metadata import (
    describe_changes,
    metadata_dict,
    set_metadata,
    size_errors,
    value_error,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_plan import Plan
from ansible_collections.gce.cos.plugins.module_utils._instance.api import InstanceApi
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit, vm_contract
from ansible_collections.gce.cos.plugins.module_utils.guest_attributes import (
    FAILED,
    AgentFailure,
    read_reports,
    restarts,
    rollback_details,
    wait_for_reports,
)


def guest_attributes_enabled(metadata):
    return str(metadata.get(vm_contract.GUEST_ATTRIBUTES_KEY, "")).strip().lower() == "true"


class ContainerTask:
    def __init__(self, gcp, request):
        self.gcp = gcp
        self.p = gcp.params
        self.zone = self.p["zone"]
        self.name = self.p["instance"]
        self.instance = InstanceApi(gcp, self.name, self.zone)
        self.resource = self.instance.what
        self.builds = request["builds"]
        self.remove = request["remove"]
        self.single = request["single"]
        self.notes = []
        self.migrated_from = None  # the converted spec, when migrating
        self.migration_disks = []  # disk_units entries of the disks the migrated container uses
        self.migration_parts = []  # cloud-config parts the migrated user-data carries (disks, firewall)
        self.opened = None  # what the migration opens on the host firewall, in words
        self.changed = False

    # reads ----------------------------------------------------------------------------------
    def read(self):
        return self.instance.read()

    def must_read(self):
        inst = self.read()
        if inst is None:
            raise GcpError(
                "%s was not found in project %s: create it first (gce.cos.cos_instance), or check instance and zone"
                % (self.resource, self.gcp.api.project),
                status=404,
            )
        return inst

    # the desired metadata, as a pure function of the current one ----------------------------
    def change(self, current):
        # Imported by the two methods that edit or read user-data: cos_instance_group uses this
        # module for its views only, and would compile cloud_config and PyYAML in every task.
        from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config

        p = self.p
        wanted = dict(current)
        keys = set()
        for built in self.builds:
            wanted[built["metadata_key"]] = built["unit"]
            keys.add(built["metadata_key"])
        for cname in self.remove:
            wanted.pop(vm_contract.metadata_key(cname), None)
        if p["exclusive"] and p["state"] == "present":
            for key in list(wanted):
                if key.startswith(vm_contract.METADATA_PREFIX) and key not in keys:
                    del wanted[key]
        if self.migrated_from is not None:
            wanted.pop(vm_contract.KONLET_KEY, None)
        if self.builds and p["apply"] == "agent" and not guest_attributes_enabled(wanted):
            wanted[vm_contract.GUEST_ATTRIBUTES_KEY] = "TRUE"
        user_data = current.get(vm_contract.USER_DATA_KEY, "")
        new_user_data = user_data
        try:
            if self.migrated_from is not None:
                new_user_data = cloud_config.with_migration(new_user_data, self.migration_parts)
            if p["apply"] == "restart":
                units = vm_contract.container_units(wanted)
                new_user_data = cloud_config.with_units(new_user_data, units)
        except cloud_config.CloudConfigError as exc:
            why = "to carry the cos agent, the disks and the host firewall for the migration" if (
                self.migrated_from is not None) else "to carry the container units for apply: restart"
            raise GcpError("%s: cannot edit the user-data of %s %s: %s" % (
                "migrate" if self.migrated_from is not None else "apply", self.resource, why, exc))
        if new_user_data != user_data:
            wanted[vm_contract.USER_DATA_KEY] = new_user_data
        return wanted

    # migration --------------------------------------------------------------------------------
    def convert(self, inst, declaration):
        # Imported here: only a migration reads a konlet declaration, and every task would compile it.
        from ansible_collections.gce.cos.plugins.module_utils import konlet

        attached = {}
        for disk in inst.get("disks") or []:
            if disk.get("deviceName"):
                attached[disk["deviceName"]] = disk.get("mode") or "READ_WRITE"
        ports = self.p.get("ports")
        try:
            spec, notes = konlet.convert(declaration, name=self.p["name"], attached_disks=attached, ports=ports)
        except konlet.Refused as exc:
            raise NotMigrated("refused", "migrate: %s cannot be moved off konlet, because konlet itself would refuse "
                              "its declaration: %s" % (self.resource, exc), exc.errors)
        except konlet.Unsupported as exc:
            raise NotMigrated("unsupported", "migrate: %s stays on konlet: %s. Fix the declaration (gcloud compute "
                              "instances update-container) or the task's options as said, then migrate again"
                              % (self.resource, exc), exc.errors)
        except konlet.KonletError as exc:
            raise GcpError("migrate: %s: %s" % (self.resource, exc))
        built = container_unit.build(spec)
        err = value_error("%s (unit of container %s)" % (built["metadata_key"], spec["name"]), built["unit"])
        if err:
            raise GcpError(err)
        self.builds = [built]
        self.migrated_from = spec
        self.notes.extend(notes)
        # What the migrated user-data adds besides the agent: the disks' units, konlet's open firewall.
        from ansible_collections.gce.cos.plugins.module_utils._vm import disk_units

        self.migration_disks = konlet.disks(spec, attached)
        self.migration_parts = [disk_units.fragment(self.migration_disks, by="cos_container migrate")]
        self.opened = ("only ports %s, by the container's unit while it runs" % (", ".join(spec["ports"]) or "(none)")
                       if ports is not None else "everything konlet opened: ACCEPT for tcp, udp and icmp on INPUT and "
                       "FORWARD, IPv4 and IPv6")
        if ports is None:
            self.migration_parts.append(konlet.firewall_fragment())

    def boot_view(self):
        """What the migrated user-data does at every boot besides the agent, for the diff and the result."""
        return {
            "host_firewall": self.opened,
            "disks_mounted": ["%s at %s%s" % (d["device_name"] + ("-part%d" % d["partition"] if d["partition"] else ""),
                                              d["mount_path"], " (read-only)" if d["read_only"] else "")
                              for d in self.migration_disks] or ["none"],
        }

    # main -------------------------------------------------------------------------------------
    def run(self):
        from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config

        p = self.p
        inst = self.must_read()
        current = metadata_dict(inst)
        declaration = current.get(vm_contract.KONLET_KEY)
        if declaration is not None:
            if not p["migrate"]:
                raise GcpError(
                    "%s still has gce-container-declaration, so konlet runs a container on it at every boot; konlet "
                    "and the cos agent would fight over the VM. Set migrate: true to convert the declaration to a "
                    "gce.cos container (see docs/docsite/rst/guide_migration.rst), or "
                    "remove the key" % self.resource
                )
            self.convert(inst, declaration)
        elif p["migrate"]:
            self.notes.append("%s has no gce-container-declaration: nothing to migrate" % self.resource)

        wanted = self.change(current)
        errors = size_errors(wanted, self.resource)
        if errors:
            raise GcpError("; ".join(errors))

        before = {"containers": container_unit.spec_views(current)}
        after = {"containers": container_unit.spec_views(wanted)}
        said = ""
        if self.migrated_from is not None:
            before[vm_contract.KONLET_KEY] = self.migrated_from
            after["boot"] = self.boot_view()
            if wanted.get(vm_contract.USER_DATA_KEY) != current.get(vm_contract.USER_DATA_KEY):
                said = " (user-data at every boot: %s)" % "; ".join(
                    "%s: %s" % (k.replace("_", " "), ", ".join(v) if isinstance(v, list) else v)
                    for k, v in after["boot"].items())
        plan = Plan(before=before, after=after)
        if wanted != current:
            plan.add(
                "set metadata of %s: %s%s" % (self.resource, describe_changes(current, wanted), said),
                lambda: set_metadata(self.gcp, self.zone, self.name, inst, self.change, self.read),
            )
        status = inst.get("status")
        user_data_changed = wanted.get(vm_contract.USER_DATA_KEY) != current.get(vm_contract.USER_DATA_KEY)
        restart = user_data_changed and (p["apply"] == "restart" or (self.migrated_from is not None and (
            # A VM with the agent needs no boot for the container, nor for the firewall (konlet's rules
            # last until the reboot, the user-data makes them again at every boot); its disks do.
            not cloud_config.has_agent(current.get(vm_contract.USER_DATA_KEY, "")) or self.migration_disks)))
        restarted = False
        if restart and status == "RUNNING":
            why = "konlet's container goes, the agent starts" if self.migrated_from is not None else (
                "cloud-init writes and starts the units at boot; everything on the VM is down meanwhile")
            plan.add("stop %s (%s)" % (self.resource, why), lambda: self.power("stop"))
            plan.add("start %s" % self.resource, lambda: self.power("start"))
            restarted = True
        elif restart:
            self.gcp.warnings.append(
                "%s is %s: it was not started; the containers start with it at its next boot" % (self.resource, status)
            )
        if self.migrated_from is not None and not restart and status == "RUNNING":
            self.gcp.warnings.append(
                "%s already had the cos agent in its user-data, so it was not restarted: the agent's unit removes "
                "the container konlet started (klt-%s-*) before it starts the migrated one%s"
                % (self.resource, self.migrated_from["name"], (
                    "; konlet's open firewall stays until the next boot, which makes it again from the user-data"
                    if self.p.get("ports") is None else "; konlet's open firewall stays until the next boot, "
                    "after which only the given ports are open"))
            )
        if (
            self.builds
            and p["apply"] == "agent"
            and self.migrated_from is None
            and not cloud_config.has_agent(wanted.get(vm_contract.USER_DATA_KEY, ""))
        ):
            self.gcp.warnings.append(
                "the user-data of %s does not install the cos agent (%s): unless the VM gets the agent another way, "
                "nothing runs these containers; use apply: restart for VMs without it"
                % (self.resource, vm_contract.AGENT_PATH)
            )
        for built in self.builds:
            self.gcp.warnings.extend(container_spec.warnings(built["spec"]))

        plan.execute(self.gcp.check_mode)
        self.changed = plan.changed

        entries = self.entries(current)
        awaited = [e for e in entries if "revision" in e or e["action"] == "remove"]
        if p["wait"] and not self.gcp.check_mode and p["apply"] == "agent" and awaited:
            if status == "RUNNING":
                self.wait(entries)
            else:
                self.gcp.warnings.append(
                    "%s is %s: not waiting for the agent; the containers start when the VM runs"
                    % (self.resource, status)
                )
        return self.result(plan, entries, restarted)

    def power(self, verb):
        return self.instance.power(verb)

    def entries(self, current):
        out = []
        for built in self.builds:
            key = built["metadata_key"]
            previous = current.get(key)
            if previous is None:
                action = "create"
            elif previous == built["unit"]:
                action = "none"
            else:
                action = "update"
            entry = {
                "name": built["spec"]["name"],
                "action": action,
                "metadata_key": key,
                "unit_name": built["unit_name"],
                "revision": built["revision"],
                "unit": built["unit"],
                "docker_argv": built["docker_argv"],
                # Deprecated (the spec's docker_args are the extra arguments only): the same argv.
                "docker_args": built["docker_argv"],
                "spec": built["spec"],
            }
            if previous is not None:
                entry["previous_revision"] = container_unit.revision(previous)
            out.append(entry)
        removed = list(self.remove)
        if self.p["exclusive"] and self.p["state"] == "present":
            keep = {b["metadata_key"] for b in self.builds}
            removed.extend(n for n in vm_contract.container_units(current) if vm_contract.metadata_key(n) not in keep)
        for cname in removed:
            key = vm_contract.metadata_key(cname)
            entry = {
                "name": cname,
                "action": "remove" if key in current else "none",
                "metadata_key": key,
                "unit_name": vm_contract.unit_name(cname),
            }
            if key in current:
                entry["previous_revision"] = container_unit.revision(current[key])
            out.append(entry)
        return out

    def wait(self, entries):
        targets = {}
        for entry in entries:
            if "revision" in entry:
                policy = entry["spec"]["restart_policy"]
                targets[entry["name"]] = {"revision": entry["revision"], "accept_stopped": policy != "always"}
            elif entry["action"] == "remove":
                targets[entry["name"]] = {"removed": True}

        def read():
            return read_reports(self.gcp.api, self.zone, self.name)

        try:
            reports = wait_for_reports(read, targets, self.gcp.wait_timeout)
        except AgentFailure as exc:
            entry = next(e for e in entries if e["name"] == exc.name)
            entry.update(state=exc.report.get("state"), error=exc.report.get("error") or "")
            entry["restarts"] = restarts(exc.report)
            for key in ("serving", "log"):
                if exc.report.get(key):
                    entry[key] = exc.report[key]
            how = "failed"
            if exc.report.get("state") != FAILED:
                # systemd keeps restarting it: a crash loop, not a passing hiccup.
                how = "keeps failing (systemd restarted it %d times)" % entry["restarts"]
            raise ContainerFailed(
                "container %s on %s %s at revision %s, as the cos agent reports: %s"
                % (exc.name, self.resource, how, entry.get("revision"), exc.report.get("error") or "(no error text)")
                + rollback_details(exc.report),
                entries,
                self.changed,
            )
        for entry in entries:
            report = reports.get(entry["name"])
            if "revision" in entry and report:
                entry["state"] = report.get("state")
                entry["digest"] = report.get("digest") or ""
                entry["image"] = report.get("image") or ""
                entry["restarts"] = restarts(report)
            elif entry["action"] == "remove":
                entry["state"] = "removed"

    def result(self, plan, entries, restarted):
        out = {
            "changed": plan.changed,
            "actions": plan.descriptions,
            "diff": plan.diff(),
            "containers": entries,
            "restarted": restarted and plan.changed,
            "notes": self.notes,
        }
        if self.migrated_from is not None:
            out["migration"] = dict(self.boot_view(), outcome="migrated")
        if self.single or self.migrated_from is not None:
            wanted = self.p["name"] or (self.migrated_from or {}).get("name")
            out["container"] = next((e for e in entries if e["name"] == wanted), {})
        return out


class NotMigrated(GcpError):
    """The declaration stays on konlet: ``outcome`` is refused (konlet's own) or unsupported (gce.cos's limit)."""

    def __init__(self, outcome, message, reasons):
        GcpError.__init__(self, message, reason=outcome)
        self.outcome = outcome
        self.reasons = list(reasons)


class ContainerFailed(GcpError):
    def __init__(self, message, entries, changed):
        GcpError.__init__(self, message, reason="container-failed")
        self.entries = entries
        self.changed = changed


def no_log_values(p):
    """Secrets the module holds (credentials): never let them into the result."""
    values = [p.get("access_token")]
    contents = p.get("service_account_contents")
    if isinstance(contents, dict):
        values.append(contents.get("private_key"))
    elif isinstance(contents, str):
        values.append(contents)
    return [v for v in values if isinstance(v, str) and len(v) >= 8]


def converge(gcp, request):
    """Run the task and exit with its result (secrets the module holds are masked in it)."""
    secrets = no_log_values(gcp.params)
    task = ContainerTask(gcp, request)
    try:
        result = task.run()
    except ContainerFailed as exc:
        gcp.fail(str(exc), changed=exc.changed,
                 containers=container_unit.redact(copy.deepcopy(exc.entries), secrets))
        return
    except NotMigrated as exc:
        # Before any request that changes something: the playbook tells the two outcomes apart by this.
        gcp.fail(str(exc), migration={"outcome": exc.outcome, "reasons": exc.reasons})
        return
    result["containers"] = container_unit.redact(result["containers"], secrets)
    if "container" in result:
        result["container"] = container_unit.redact(result["container"], secrets)
    gcp.exit(**result)
