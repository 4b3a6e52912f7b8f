# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_instance_group's engine: read the group, plan its create, patch or delete, roll container changes
through the agents in batches, and wait until the group is stable.

Two kinds of change reach running VMs:
- a new template (versions) needs new VMs: it goes through the group's own rolling update (PROACTIVE,
  with surge), and the module waits for the version target;
- new container specs live in the group's allInstancesConfig metadata. They are applied in batches of
  max_unavailable VMs with applyUpdatesToInstances (REFRESH: metadata only, no restart); the cos agent on
  each VM applies them, and the next batch starts only once every VM of the batch reports the new
  revisions (and is healthy, with autohealing). While the module paces the batches, the group's policy is
  OPPORTUNISTIC, so that the group itself does not refresh the others; a PROACTIVE policy is restored at
  the end. A failing batch stops there and the policy stays OPPORTUNISTIC: the VMs not reached keep the
  old revision until a re-run resumes the rollout.

A rollout in progress (the policy left OPPORTUNISTIC by an earlier run that failed, timed out, was
interrupted or returned after wait_step) is resumed by checking every VM: those whose metadata already
has the wanted containers (refreshed before) must report the wanted revisions before any other VM is
refreshed; the others are refreshed in batches.

With wait_step, one run waits at most that many seconds, then returns done: false (what it waits for in
``waiting``); the next run resumes where it stopped, so a role can loop the task with until/retries and
print a line per step.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import time

from ansible_collections.gce.cos.plugins.module_utils._container.request import build_all, list_specs
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError, GcpTimeoutError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import basename, qualify, relative
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_plan import Plan
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_poll import Backoff, Deadline, PollTimeout, poll
from ansible_collections.gce.cos.plugins.module_utils._group.options import (
    AUTO_DELETE,
    fixed_or_percent_text,
    parse_fixed_or_percent,
    resolve,
    validate_group_params,
)
from ansible_collections.gce.cos.plugins.module_utils._instance.api import InstanceApi
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit, vm_contract
from ansible_collections.gce.cos.plugins.module_utils.guest_attributes import (
    AgentFailure,
    read_reports,
    rollback_details,
    wait_for_reports,
)

# Seconds a rollback waits at least for the agents' reports (a batch that timed out has no time left).
ROLLBACK_WAIT = 120
# The policy a new group gets when update_policy leaves a field out (what the API and gcloud use).
CREATE_POLICY = {"type": "PROACTIVE", "minimal_action": "REPLACE", "replacement_method": "SUBSTITUTE"}
STATEFUL_CREATE_POLICY = {"replacement_method": "RECREATE", "max_surge": "0"}
# Summary fields of update_policy -> the API's fields.
POLICY_FIELDS = {
    "type": "type",
    "minimal_action": "minimalAction",
    "most_disruptive_allowed_action": "mostDisruptiveAllowedAction",
    "max_surge": "maxSurge",
    "max_unavailable": "maxUnavailable",
    "replacement_method": "replacementMethod",
}
# Summary fields the options manage (in the order patches describe them).
MANAGED = ("target_size", "base_instance_name", "versions", "named_ports", "autohealing", "update_policy",
           "stateful_disks", "containers")
HEALTHY = "HEALTHY"
# Status polls: quick at first (localgce and small groups settle in seconds), growing to a cap.
FIRST_DELAY = 1.0
MAX_DELAY = 5.0


def _drop_none(data):
    return {k: v for k, v in data.items() if v is not None}


def summary(igm):
    """A group (API form) as the module returns and compares it; {} when there is none."""
    if not igm:
        return {}
    policy = igm.get("updatePolicy") or {}
    healing = (igm.get("autoHealingPolicies") or [None])[0]
    disks = ((igm.get("statefulPolicy") or {}).get("preservedState") or {}).get("disks") or {}
    spelled = {api: option for option, api in AUTO_DELETE.items()}
    metadata = ((igm.get("allInstancesConfig") or {}).get("properties") or {}).get("metadata") or {}
    status = igm.get("status") or {}
    out = {
        "name": igm.get("name"),
        "target_size": int(igm.get("targetSize") or 0),
        "base_instance_name": igm.get("baseInstanceName"),
        "versions": [
            _drop_none({
                "instance_template": relative(v.get("instanceTemplate")),
                "name": v.get("name") or None,
                "target_size": fixed_or_percent_text(v.get("targetSize")),
            })
            for v in igm.get("versions") or []
        ],
        "named_ports": sorted(({"name": p["name"], "port": int(p["port"])} for p in igm.get("namedPorts") or []),
                              key=lambda p: p["name"]),
        "autohealing": {
            "health_check": relative(healing.get("healthCheck")),
            "initial_delay_sec": int(healing.get("initialDelaySec") or 0),
        } if healing else None,
        "update_policy": _drop_none({
            key: fixed_or_percent_text(policy.get(api)) if key.startswith("max_") else policy.get(api)
            for key, api in POLICY_FIELDS.items()
        }),
        "stateful_disks": sorted(
            ({"device_name": d, "auto_delete": spelled.get((v or {}).get("autoDelete", "NEVER"), "never")}
             for d, v in disks.items()),
            key=lambda d: d["device_name"],
        ),
        "containers": container_unit.spec_views(metadata),
        "status": {
            "is_stable": bool(status.get("isStable")),
            "version_target_reached": bool((status.get("versionTarget") or {}).get("isReached")),
            "all_instances_config_effective": bool((status.get("allInstancesConfig") or {}).get("effective", True)),
        },
        "instance_group": igm.get("instanceGroup"),
    }
    if igm.get("zone"):
        out["zone"] = basename(igm["zone"])
    else:
        out["region"] = basename(igm.get("region"))
        out["target_zones"] = sorted(basename(z.get("zone")) for z in (igm.get("distributionPolicy") or {}).get(
            "zones") or [])
    return out


def diff_view(data):
    return {k: v for k, v in (data or {}).items() if k not in ("status", "instance_group")}


class GroupFailed(GcpError):
    """A rollout or wait that stopped; ``details`` says how far it got."""

    def __init__(self, message, details):
        GcpError.__init__(self, message, reason="rollout-failed", details=details)


class StepElapsed(Exception):
    """This run's wait_step ran out: the task returns done: false, and the next run resumes.

    ``acted``: whether the step that stopped had already changed something (a refreshed batch).
    """

    def __init__(self, waiting, acted=True):
        Exception.__init__(self, waiting)
        self.waiting = waiting
        self.acted = acted


class GroupEngine:
    def __init__(self, gcp):
        self.gcp = gcp
        self.p = gcp.params
        self.project = gcp.api.project
        self.zonal = self.p["zone"] is not None
        self.location = self.p["zone"] if self.zonal else self.p["region"]
        self.service = "instance_group_managers" if self.zonal else "region_instance_group_managers"
        self.scope = {"zone": self.location} if self.zonal else {"region": self.location}
        self.name = self.p["name"]
        self.resource = "instance group %r in %s" % (self.name, self.location)
        self.builds = build_all(list_specs(self.p["containers"]))[0] if self.p["containers"] is not None else None
        self.rollout = {"batches": [], "updated": [], "pending": [], "refreshed_before": []}
        step = self.p.get("wait_step") or 0
        # This run's share of the waiting, with wait_step; None: wait up to wait_timeout.
        self.step_deadline = time.monotonic() + step if step > 0 else None
        # Each run starts at least one batch, however slow the API: otherwise a short wait_step could run
        # out before every run's first batch, and the rollout would never move.
        self.refreshed_this_run = False
        self.plan = None
        self.started = []  # descriptions of the plan steps this run started
        self.before_type = None
        self.current, self.batches, self.targets = [], [], {}
        self.old_units = {}  # VM -> {container: unit} before this run refreshed it (what a rollback restores)
        self.wanted_aic = {}
        self.wait_state = {"deadline": None}

    def deadline(self, overall):
        """``(deadline, by_step)``: the sooner of ``overall`` and the end of this run's wait_step."""
        if self.step_deadline is not None and self.step_deadline < overall:
            return self.step_deadline, True
        return overall, False

    # -- API --------------------------------------------------------------------------------------
    def fields(self, **more):
        out = dict(self.scope, project=self.project, instance_group_manager=self.name)
        out.update(more)
        if "instance_group_manager_resource" in more and "instance_group_manager" not in more:
            # insert names the group in its body only.
            out.pop("instance_group_manager")
        return out

    def read(self):
        return self.gcp.api.get(self.service, doing="read " + self.resource, **self.fields())

    def managed_instances(self):
        answer = self.gcp.api.call(self.service, "list_managed_instances", doing="list the VMs of " + self.resource,
                                   **self.fields())
        return answer.get("managedInstances") or []

    def mutate(self, method, verb, **fields):
        return self.gcp.mutate(self.service, method, doing="%s %s" % (verb, self.resource), **self.fields(**fields))

    def patch(self, body):
        body = dict(body, name=self.name)
        return self.mutate("patch_unary", "patch", instance_group_manager=self.name,
                           instance_group_manager_resource=body)

    def apply_updates(self, links):
        body = {"instances": links, "minimalAction": "REFRESH", "mostDisruptiveAllowedAction": "REFRESH"}
        key = ("instance_group_managers_apply_updates_request_resource" if self.zonal
               else "region_instance_group_managers_apply_updates_request_resource")
        return self.mutate("apply_updates_to_instances_unary", "refresh VMs of", **{key: body})

    # -- the wanted state -----------------------------------------------------------------------
    def template(self, ref):
        return qualify(ref, self.project, collection="global/instanceTemplates")

    def wanted_versions(self):
        p = self.p
        if p["versions"] is None:
            return [{"instance_template": self.template(p["instance_template"])}]
        out = []
        for version in p["versions"]:
            entry = {"instance_template": self.template(version["instance_template"])}
            if version.get("name"):
                entry["name"] = version["name"]
            if version.get("target_size") is not None:
                entry["target_size"] = fixed_or_percent_text(parse_fixed_or_percent(version["target_size"]))
            out.append(entry)
        return out

    def wanted_metadata(self, current):
        """allInstancesConfig metadata: the containers' units replace every cos-container-* key. The
        API merges a patch into the map and the client cannot send the null that deletes a key, so a
        removed container's key is emptied (vm_contract.container_units)."""
        wanted = {k: ("" if k.startswith(vm_contract.METADATA_PREFIX) else v) for k, v in current.items()}
        for built in self.builds:
            wanted[built["metadata_key"]] = built["unit"]
        if self.builds:
            wanted[vm_contract.GUEST_ATTRIBUTES_KEY] = "TRUE"
        return wanted

    def wanted(self, before, actual):
        """The summary the options ask for: the current one with every given option laid over it."""
        p = self.p
        after = copy.deepcopy(before)
        after.pop("status", None)
        if not before:
            after = {"name": self.name, "base_instance_name": self.name, "versions": [], "named_ports": [],
                     "autohealing": None, "update_policy": {}, "stateful_disks": [], "containers": {},
                     "target_size": 0}
            if self.zonal:
                after["zone"] = self.location
            else:
                after.update(region=self.location, target_zones=sorted(p["target_zones"] or []))
        if p["target_size"] is not None:
            after["target_size"] = p["target_size"]
        if p["base_instance_name"] is not None:
            after["base_instance_name"] = p["base_instance_name"]
        after["versions"] = self.wanted_versions()
        if p["named_ports"] is not None:
            after["named_ports"] = sorted(({"name": x["name"], "port": x["port"]} for x in p["named_ports"]),
                                          key=lambda x: x["name"])
        if p["autohealing"] is not None:
            after["autohealing"] = {
                "health_check": qualify(p["autohealing"]["health_check"], self.project,
                                        collection="global/healthChecks"),
                "initial_delay_sec": p["autohealing"]["initial_delay_sec"],
            }
        policy = dict(after.get("update_policy") or {})
        if not before:
            policy.update(CREATE_POLICY)
            if p["stateful_disks"]:
                # As the API and gcloud default for a stateful group: VMs keep their names and disks.
                policy.update(STATEFUL_CREATE_POLICY)
        for key, value in (p["update_policy"] or {}).items():
            if value is not None:
                policy[key] = fixed_or_percent_text(parse_fixed_or_percent(value)) if key.startswith("max_") else value
        if (p["update_policy"] or {}).get("type") is None and before:
            # The module owns the type: PROACTIVE unless the task says otherwise, so that a rollout it
            # left OPPORTUNISTIC (a failed batch) is resumed and restored by the next run.
            policy["type"] = "PROACTIVE"
        after["update_policy"] = policy
        if p["stateful_disks"] is not None:
            after["stateful_disks"] = sorted(
                ({"device_name": d["device_name"], "auto_delete": d["auto_delete"]} for d in p["stateful_disks"]),
                key=lambda d: d["device_name"],
            )
        if self.builds is not None:
            after["containers"] = container_unit.spec_views(self.wanted_metadata(self.aic_metadata(actual)))
        return after

    @staticmethod
    def aic_metadata(igm):
        return dict((((igm or {}).get("allInstancesConfig") or {}).get("properties") or {}).get("metadata") or {})

    # -- API bodies -----------------------------------------------------------------------------
    def body_fields(self, after, keys, actual):
        body = {}
        for key in keys:
            value = after.get(key)
            if key == "target_size":
                body["targetSize"] = value
            elif key == "base_instance_name":
                body["baseInstanceName"] = value
            elif key == "versions":
                body["versions"] = [
                    _drop_none({
                        "instanceTemplate": v["instance_template"],
                        "name": v.get("name"),
                        "targetSize": parse_fixed_or_percent(v["target_size"]) if v.get("target_size") else None,
                    })
                    for v in value
                ]
            elif key == "named_ports":
                body["namedPorts"] = value
            elif key == "autohealing" and value:
                body["autoHealingPolicies"] = [{"healthCheck": value["health_check"],
                                                "initialDelaySec": value["initial_delay_sec"]}]
            elif key == "update_policy":
                body["updatePolicy"] = {
                    POLICY_FIELDS[k]: parse_fixed_or_percent(v) if k.startswith("max_") else v
                    for k, v in value.items()
                }
            elif key == "stateful_disks":
                body["statefulPolicy"] = {"preservedState": {"disks": {
                    d["device_name"]: {"autoDelete": AUTO_DELETE[d["auto_delete"]]} for d in value}}}
            elif key == "containers":
                body["allInstancesConfig"] = {"properties": {"metadata": self.wanted_metadata(
                    self.aic_metadata(actual))}}
        return body

    def create_body(self, after):
        body = self.body_fields(after, MANAGED, None) if self.builds is not None else self.body_fields(
            after, [k for k in MANAGED if k != "containers"], None)
        body["name"] = self.name
        if not self.zonal and after.get("target_zones"):
            body["distributionPolicy"] = {"zones": [{"zone": "zones/%s" % z} for z in after["target_zones"]]}
        return body

    # -- main -----------------------------------------------------------------------------------
    def run(self):
        try:
            result = self.converge()
        except StepElapsed as exc:
            return self.unfinished(exc)
        result.update(done=True, waiting="")
        return result

    def unfinished(self, stopped):
        """The result of a run whose wait_step ran out: what it did, and what the next run waits for."""
        actions = list(self.started)
        if actions and not stopped.acted:
            actions.pop()
        final = summary(self.read())
        return {
            "changed": bool(self.gcp.accepted),
            "actions": actions,
            "diff": {"before": self.plan.before if self.plan else {}, "after": diff_view(final)},
            "group": final,
            "rollout": self.rollout,
            "done": False,
            "waiting": stopped.waiting,
            "msg": "not done within this run's wait_step (%ds): %s. Run the task again to continue: it resumes "
                   "where it stopped" % (self.p["wait_step"], stopped.waiting),
        }

    def track(self, plan):
        """Note each plan step as it starts (a run that returns after wait_step reports what it did)."""
        for step in plan.steps:
            step.run = (lambda run=step.run, description=step.description:
                        self.started.append(description) or run())

    def converge(self):
        gcp, p = self.gcp, self.p
        validate_group_params(p)
        actual = self.read()
        before = summary(actual)
        self.before_type = (before.get("update_policy") or {}).get("type")
        plan = self.plan = Plan(before=diff_view(before))
        if p["state"] == "absent":
            if actual:
                plan.add("delete %s and its %d VMs" % (self.resource, before["target_size"]),
                         lambda: self.mutate("delete_unary", "delete"), becomes={})
            plan.execute(gcp.check_mode)
            return self.result(plan, {})
        if actual is None and p["target_size"] is None:
            raise GcpError("target_size: is required to create %s: give the number of VMs" % self.resource)
        after = self.wanted(before, actual)
        if actual is None:
            body = self.create_body(after)
            plan.add("create %s (%s)" % (self.resource, self.describe_create(after)),
                     lambda: self.mutate("insert_unary", "create", instance_group_manager_resource=body),
                     becomes=diff_view(after))
            plan.execute(gcp.check_mode)
            final = self.finish(plan, after)
            return self.result(plan, final)
        self.refuse_fixed(before)
        changed = [k for k in MANAGED if before.get(k) != after.get(k)]
        in_place = self.plan_update(plan, actual, before, after, changed)
        if in_place is not None:
            self.plan_rollout(plan, actual, after, in_place)
        self.track(plan)
        if in_place is not None and not gcp.check_mode:
            # VMs refreshed before this run (a resumed rollout) must report the wanted revisions before
            # another VM is refreshed: a failure there stops the rollout with nothing more changed.
            self.verify_refreshed(after)
        plan.execute(gcp.check_mode)
        final = self.finish(plan, after, actual)
        return self.result(plan, final)

    def refuse_fixed(self, before):
        if not self.zonal and self.p["target_zones"] and sorted(self.p["target_zones"]) != before.get("target_zones"):
            raise GcpError(
                "target_zones: %s cannot change on the existing %s (it runs in %s): the zones of a regional group "
                "are fixed at creation; delete the group (state: absent) or use another name"
                % (", ".join(sorted(self.p["target_zones"])), self.resource, ", ".join(before["target_zones"]))
            )

    def describe_create(self, after):
        parts = ["%d VMs of %s" % (after["target_size"], ", ".join(
            basename(v["instance_template"]) + (" (canary %s)" % v["target_size"] if v.get("target_size") else "")
            for v in after["versions"]))]
        if after.get("target_zones"):
            parts.append("in %s" % ", ".join(after["target_zones"]))
        if after.get("autohealing"):
            parts.append("autohealing by %s" % basename(after["autohealing"]["health_check"]))
        if after.get("containers"):
            parts.append("containers %s" % ", ".join(sorted(after["containers"])))
        return ", ".join(parts)

    def plan_update(self, plan, actual, before, after, changed):
        """Add the patch; returns the containers' in-place rollout to plan, or None when there is none."""
        new_vms = "versions" in changed
        containers = "containers" in changed
        pending = not before["status"]["all_instances_config_effective"] and self.builds is not None
        # The group is OPPORTUNISTIC where the task wants PROACTIVE: an earlier run that paced a rollout left it so
        # (it failed, timed out, was interrupted or returned after wait_step). Resume it, checking every VM.
        resume = self.builds is not None and before["update_policy"].get("type") == "OPPORTUNISTIC" and (
            after["update_policy"].get("type") == "PROACTIVE")
        in_place = (containers or pending or resume) and not new_vms and after["target_size"] > 0
        keys = list(changed)
        proactive = after["update_policy"].get("type") == "PROACTIVE"
        pace = in_place and proactive
        body = self.body_fields(after, keys, actual)
        if pace:
            # The module paces the batches: the group must not refresh every VM itself meanwhile.
            body.setdefault("updatePolicy", {})["type"] = "OPPORTUNISTIC"
            if before["update_policy"].get("type") == "OPPORTUNISTIC" and keys == ["update_policy"] and (
                    self.policy_without_type(before) == self.policy_without_type(after)):
                body = {}
        if body:
            words = "; ".join("%s %s -> %s" % (k, _short(before.get(k)), _short(after.get(k))) for k in keys
                              if not (pace and k == "update_policy" and self.policy_without_type(before)
                                      == self.policy_without_type(after)))
            if pace:
                words = (words + "; " if words else "") + "update_policy.type OPPORTUNISTIC while the module " \
                    "refreshes the VMs in batches"
            record = {k: after[k] for k in keys}
            if pace:
                record["update_policy"] = dict(after["update_policy"], type="OPPORTUNISTIC")
            plan.add("patch %s (%s)" % (self.resource, words), lambda: self.patch(body),
                     after={k: diff_view({k: v}).get(k) for k, v in record.items()})
        if in_place:
            return {"restore": pace}
        return None

    @staticmethod
    def policy_without_type(summary_):
        return {k: v for k, v in (summary_.get("update_policy") or {}).items() if k != "type"}

    # -- the in-place rollout ---------------------------------------------------------------------
    @staticmethod
    def unavailable(after):
        """max_unavailable as a number of VMs (1 when the policy leaves it out)."""
        text = after["update_policy"].get("max_unavailable")
        return resolve(parse_fixed_or_percent(text) if text else {"fixed": 1}, after["target_size"])

    def batch_size(self, after):
        """VMs refreshed at once: max_unavailable. With max_unavailable 0 every changed container is start-first
        (refuse_unavailable), so a refreshed VM keeps serving: batches of max_surge VMs, as a surge would add."""
        size = self.unavailable(after)
        if size == 0:
            text = after["update_policy"].get("max_surge")
            size = resolve(parse_fixed_or_percent(text) if text else {"fixed": 1}, after["target_size"])
        return max(1, size)

    def refuse_unavailable(self, after, current):
        """max_unavailable 0 promises that no VM stops serving: refused, before any change, when a changed
        container would stop on every VM while its new revision starts (stop-first with ports)."""
        if self.unavailable(after) != 0:
            return
        for built in self.builds:
            spec = built["spec"]
            if not spec.get("ports") or container_unit.start_first(spec):
                continue
            old = current.get(spec["name"])
            if old and container_unit.revision(old) != built["revision"]:
                raise GcpError(
                    "update_policy.max_unavailable: 0 promises that no VM of %s stops serving, but container %s "
                    "(ports %s) updates stop-first: on each VM its ports are closed while the new revision "
                    "starts. Give %s a readiness probe (order start-first is then its default) or order: "
                    "start-first, or allow max_unavailable: 1" % (
                        self.resource, spec["name"], ", ".join(str(p) for p in spec["ports"]), spec["name"]))

    def members(self, wanted_metadata):
        """``(lagging, current)``: [(name, zone, link)] of the group's VMs whose container keys differ from
        ``wanted_metadata``, and of those whose keys already are the wanted ones (refreshed before)."""
        wanted = vm_contract.container_units(wanted_metadata)
        out, current = [], []
        for managed in sorted(self.managed_instances(), key=lambda m: m.get("instance", "")):
            link = relative(managed.get("instance"))
            parts = link.split("/")
            zone, name = parts[3], parts[5]
            inst = InstanceApi(self.gcp, name, zone).read()
            if inst is None:
                continue
            items = (inst.get("metadata") or {}).get("items") or []
            have = vm_contract.container_units({i["key"]: i.get("value") for i in items})
            if have != wanted:
                out.append((name, zone, managed.get("instance")))
                self.old_units[name] = have
            else:
                current.append((name, zone, managed.get("instance")))
        return out, current

    def plan_rollout(self, plan, actual, after, in_place):
        self.refuse_unavailable(after, vm_contract.container_units(self.aic_metadata(actual)))
        wanted_metadata = self.wanted_aic = self.wanted_metadata(self.aic_metadata(actual))
        lagging, current = self.members(wanted_metadata)
        size = self.batch_size(after)
        batches = [lagging[i:i + size] for i in range(0, len(lagging), size)]
        self.current = current
        self.batches = batches
        self.rollout["refreshed_before"] = [name for name, _zone, _link in current]
        self.rollout["pending"] = [name for name, _zone, _link in current + lagging]
        self.rollout["batches"] = [[name for name, _zone, _link in batch] for batch in batches]
        targets = {}
        for built in self.builds:
            targets[built["spec"]["name"]] = {"revision": built["revision"],
                                              "accept_stopped": built["spec"]["restart_policy"] != "always"}
        kept = vm_contract.container_units(wanted_metadata)
        for name in vm_contract.container_units(self.aic_metadata(actual)):
            if name not in kept:
                targets[name] = {"removed": True}
        state = self.wait_state
        self.targets = targets
        for number, batch in enumerate(batches, 1):
            plan.add(
                "refresh batch %d of %d of %s (%s) and wait for their cos agents to report %s"
                % (number, len(batches), self.resource, ", ".join(n for n, _z, _l in batch),
                   ", ".join("%s revision %s" % (n, t["revision"]) if "revision" in t else "%s removed" % n
                             for n, t in sorted(targets.items()))),
                lambda batch=batch, number=number: self.run_batch(batch, number, after, state),
            )
        if in_place["restore"]:
            plan.add("patch %s (update_policy.type OPPORTUNISTIC -> PROACTIVE: every VM has the new containers)"
                     % self.resource,
                     lambda: self.patch({"updatePolicy": {"type": "PROACTIVE"}}),
                     after={"update_policy": after["update_policy"]})

    @staticmethod
    def start_waiting(state, timeout):
        if state["deadline"] is None:
            state["deadline"] = time.monotonic() + timeout
        return state["deadline"]

    def verify_refreshed(self, after):
        """Wait for the reports of the VMs refreshed before this run (a resumed rollout), as for a batch."""
        if not self.current:
            return
        overall = self.start_waiting(self.wait_state, self.gcp.wait_timeout)
        for name, zone, _link in self.current:
            self.wait_vm(name, zone, None, overall)
        if after.get("autohealing"):
            self.wait_healthy([n for n, _z, _l in self.current], None, overall)
        self.verified([n for n, _z, _l in self.current])

    def verified(self, names):
        self.rollout["updated"].extend(names)
        self.rollout["pending"] = [n for n in self.rollout["pending"] if n not in self.rollout["updated"]]

    def where(self, number):
        if number is None:
            return "checking the VMs refreshed before this run (%s)" % ", ".join(n for n, _z, _l in self.current)
        return "batch %d of %d (%s)" % (number, len(self.batches),
                                        ", ".join(n for n, _z, _l in self.batches[number - 1]))

    def wait_vm(self, name, zone, number, overall):
        """Wait for one VM's reports of the wanted revisions; a failure stops the rollout naming the VM, the
        container, the revision and the agent's error."""
        deadline, by_step = self.deadline(overall)
        targets = self.targets
        try:
            wait_for_reports(lambda: read_reports(self.gcp.api, zone, name), targets,
                             max(0.0 if by_step else 1.0, deadline - time.monotonic()))
        except AgentFailure as exc:
            why = "container %s failed at revision %s, as its cos agent reports: %s" % (
                exc.name, targets.get(exc.name, {}).get("revision"), exc.report.get("error") or "(no error text)")
            self.stop(number, name, why + rollback_details(exc.report), self.roll_back(number, name))
        except GcpTimeoutError as exc:
            if by_step:
                text = str(exc).replace("timed out after", "not yet after", 1).replace(
                    ". Raise wait_timeout, or set wait: false", "")
                raise StepElapsed("%s: VM %s: %s" % (self.where(number), name, text))
            # Not rolled back: a slow VM (a large pull) is not a failed one, and a re-run resumes by checking it.
            self.stop(number, name, str(exc))

    def roll_back(self, number, vm):
        """A batch whose VM's agent reports a failure goes back to what that VM ran before this run: the
        group's all-instances metadata (what new and autohealed VMs get) and the batch's VMs, refreshed again;
        their cos agents' reports of it are awaited (bounded). Returns what the failure message adds; None when
        this run did not refresh the VM (checking the VMs refreshed before)."""
        old = self.old_units.get(vm)
        if number is None or old is None:
            return None
        batch = self.batches[number - 1]
        prefix = vm_contract.METADATA_PREFIX
        restored = {k: ("" if k.startswith(prefix) else v) for k, v in self.wanted_aic.items()}
        targets = {}
        for name, unit in old.items():
            restored[prefix + name] = unit
            policy = (container_unit.spec_view(unit).get("restart_policy") or "always")
            targets[name] = {"revision": container_unit.revision(unit), "accept_stopped": policy != "always"}
        for key, value in self.wanted_aic.items():
            if key.startswith(prefix) and value and key[len(prefix):] not in old:
                targets[key[len(prefix):]] = {"removed": True}
        names = [n for n, _z, _l in batch]
        self.patch({"allInstancesConfig": {"properties": {"metadata": restored}}})
        self.apply_updates([link for _n, _z, link in batch])
        self.rollout["rolled_back"] = names
        # The batch's VMs roll back at once: one bound for the batch, not one for each VM in turn.
        deadline = Deadline(max(ROLLBACK_WAIT, self.wait_state["deadline"] - time.monotonic()))
        try:
            for name, zone, _link in batch:
                wait_for_reports(lambda zone=zone, name=name: read_reports(self.gcp.api, zone, name), targets,
                                 max(0.0, deadline.remaining()))
        except (AgentFailure, GcpTimeoutError) as exc:
            return ("Rolled back: %s got the containers %s ran before this run again (so did the group's "
                    "all-instances configuration, which new and autohealed VMs get), but the cos agents do not "
                    "report them running yet: %s" % (", ".join(names), vm, exc))
        return ("Rolled back: %s run the containers %s ran before this run again (revisions %s), and so does the "
                "group's all-instances configuration, which new and autohealed VMs get" % (
                    ", ".join(names), vm, ", ".join("%s %s" % (n, t["revision"]) for n, t in sorted(targets.items())
                                                    if "revision" in t) or "none"))

    def run_batch(self, batch, number, after, state):
        overall = self.start_waiting(state, self.gcp.wait_timeout)
        if self.refreshed_this_run and self.deadline(overall)[1] and time.monotonic() >= self.step_deadline:
            raise StepElapsed("%s is next, not started in this run" % self.where(number), acted=False)
        self.apply_updates([link for _n, _z, link in batch])
        self.refreshed_this_run = True
        for name, zone, _link in batch:
            self.wait_vm(name, zone, number, overall)
        if after.get("autohealing"):
            self.wait_healthy([n for n, _z, _l in batch], number, overall)
        self.verified([n for n, _z, _l in batch])

    def wait_healthy(self, names, number, overall):
        deadline, by_step = self.deadline(overall)

        def unhealthy():
            health = {}
            for managed in self.managed_instances():
                name = basename(managed.get("instance"))
                if name in names:
                    states = [h.get("detailedHealthState") for h in managed.get("instanceHealth") or []]
                    health[name] = states[0] if states else "UNKNOWN"
            return {n: health.get(n, "GONE") for n in names if health.get(n) != HEALTHY}

        def describe(sick):
            return ", ".join("%s %s" % kv for kv in sorted(sick.items()))

        try:
            poll(unhealthy, lambda sick: not sick, Deadline(0, at=deadline), describe,
                 delay=Backoff(FIRST_DELAY, 1.5, MAX_DELAY))
        except PollTimeout as exc:
            if by_step:
                raise StepElapsed("%s: the cos agents report the new revisions; the health check says %s"
                                  % (self.where(number), exc))
            self.stop(number, ", ".join(sorted(exc.value)), "the cos agent reports the new revision, "
                      "but the health check says %s after %ds" % (exc, self.gcp.wait_timeout))

    def stop(self, number, vm, why, rolled_back=None):
        """Fail the rollout at VM ``vm`` of batch ``number`` (None: while checking the VMs refreshed before);
        ``rolled_back`` says how the batch went back (roll_back)."""
        batches = self.batches
        earlier = set(self.rollout["refreshed_before"])
        done = ", ".join(n + (" (refreshed by an earlier run)" if n in earlier else "")
                         for n in self.rollout["updated"]) or "none"
        if number is None:
            where = "while checking the VMs refreshed before this run"
            unchecked = [n for n, _z, _l in self.current if n not in self.rollout["updated"]]
            this = "Refreshed before this run, not verified: %s. Refreshed in this run: none" % ", ".join(unchecked)
            not_reached = [n for batch in batches for n, _z, _l in batch]
        else:
            where = "in batch %d of %d" % (number, len(batches))
            this = rolled_back or "Refreshed in this batch: %s" % ", ".join(n for n, _z, _l in batches[number - 1])
            not_reached = [n for batch in batches[number:] for n, _z, _l in batch]
        if number is None and self.before_type != "OPPORTUNISTIC":
            policy = "The group's update policy is unchanged (%s)" % self.before_type
        else:
            policy = "The group's update policy stays OPPORTUNISTIC, so the group does not roll the rest itself"
        raise GroupFailed(
            "rollout of the containers of %s stopped %s, at VM %s: %s. Updated before: %s. %s. Not reached, still "
            "on the old revision: %s. %s; fix the containers and re-run the task (it checks every VM against the "
            "wanted revisions and refreshes those not on them)" % (
                self.resource, where, vm, why, done, this, ", ".join(not_reached) or "none", policy),
            dict(self.rollout, failed_batch=number, failed_vm=vm, not_reached=not_reached),
        )

    # -- waiting ----------------------------------------------------------------------------------
    def finish(self, plan, after, actual=None):
        """Wait until stable (unless wait: false or check mode); return the group's summary after the task.

        A run that changed nothing on a group that is already stable reads nothing more.
        """
        if self.gcp.check_mode:
            final = dict(plan.after)
            final.setdefault("status", {})
            return final
        if not plan.changed and actual is not None and (not self.p["wait"] or self.settled(actual, after)):
            return summary(actual)
        if not self.p["wait"]:
            return summary(self.read())
        return summary(self.wait_stable(after))

    @staticmethod
    def settled(igm, after):
        status = igm.get("status") or {}
        reached = (status.get("versionTarget") or {}).get("isReached")
        return bool(status.get("isStable") and (reached or after["update_policy"].get("type") == "OPPORTUNISTIC"))

    def wait_stable(self, after):
        deadline, by_step = self.deadline(time.monotonic() + self.gcp.wait_timeout)
        want_version = after["update_policy"].get("type") != "OPPORTUNISTIC"

        def read():
            igm = self.read()
            if igm is None:
                raise GcpError("%s disappeared while the module waited for it to be stable" % self.resource)
            return igm

        try:
            return poll(read, lambda igm: self.settled(igm, after), Deadline(0, at=deadline),
                        lambda igm: self.pending_message(igm, want_version, step=by_step),
                        delay=Backoff(FIRST_DELAY, 1.5, MAX_DELAY))
        except PollTimeout as exc:
            if by_step:
                # The plan's steps are all done: this run only waited after them.
                raise StepElapsed(str(exc))
            raise GroupFailed(str(exc), dict(self.rollout))

    def pending_message(self, igm, want_version, step=False):
        actions = {k: v for k, v in (igm.get("currentActions") or {}).items() if k != "none" and v}
        wanted = {relative(v.get("instanceTemplate")) for v in igm.get("versions") or []}
        behind = []
        for managed in self.managed_instances():
            template = relative((managed.get("version") or {}).get("instanceTemplate"))
            action = managed.get("currentAction") or "NONE"
            if template not in wanted or action != "NONE":
                behind.append("%s (%s, %s)" % (basename(managed.get("instance")), basename(template) or "no version",
                                               action))
        status = igm.get("status") or {}
        text = "waiting for %s to be stable%s: %s; current actions: %s; VMs not yet done: %s" % (
            self.resource, " with its version target reached" if want_version else "",
            "isStable %s, versionTarget.isReached %s" % (
                bool(status.get("isStable")), bool((status.get("versionTarget") or {}).get("isReached"))),
            ", ".join("%s %d" % kv for kv in sorted(actions.items())) or "none",
            ", ".join(behind) or "none")
        if step:
            return text
        return "timed out after %ds %s. Raise wait_timeout, or set wait: false" % (self.gcp.wait_timeout, text)

    def result(self, plan, final):
        return {
            "changed": plan.changed,
            "actions": plan.descriptions,
            "diff": plan.diff(diff_view),
            "group": final,
            "rollout": self.rollout,
        }


def _short(value):
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        # Containers: name and image (the full specs are in the diff).
        return "{%s}" % ", ".join("%s: %s" % (k, v.get("image", "?")) for k, v in sorted(value.items()))
    return repr(value)


def converge(gcp):
    engine = GroupEngine(gcp)
    try:
        result = engine.run()
    except GroupFailed as exc:
        gcp.fail(str(exc) + _accepted(gcp), rollout=exc.details)
        return
    gcp.exit(**result)


def _accepted(gcp):
    if gcp.accepted:
        return "; changed before this failure: %s" % "; ".join(gcp.accepted)
    return ""
