"""Managed instance groups: instanceGroupManagers (zonal) and regionInstanceGroupManagers: insert,
get, list, aggregatedList, delete, patch, resize, listManagedInstances, applyUpdatesToInstances,
recreateInstances, deleteInstances, listErrors; and the groups they manage (instanceGroups get,
list, listInstances). Autoscalers are not emulated: their lists are empty.

The group converges in steps. Every request to a group (a mutation's operation, get, list,
listManagedInstances) runs one step of ``converge``: missing members are created from their
version's template as ``BASE-xxxx`` (or recreated under their own name when deleted behind the
group's back, or autohealed when unhealthy past ``initialDelaySec``), extra ones deleted. A
PROACTIVE update rolls as Compute Engine's updater does: it first creates up to ``maxSurge``
members above the target size on the new version, then removes old members as long as at least
``targetSize - maxUnavailable`` members stay available (RUNNING, with no current action, and
HEALTHY at least once when the group has a health check), so with maxSurge >= 1 and
maxUnavailable 0 the serving capacity never drops. RECREATE (maxSurge 0) replaces a member under
its own name, within maxUnavailable. An allInstancesConfig change refreshes at most one batch
(``maxSurge + maxUnavailable``, at least 1) per step. ``status.isStable`` is true once a step
has nothing left to do. With VMs, ``health_probes`` gives the members' health and runs a step of
every autohealed group after each of its rounds; in API-only mode the control API sets health.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import secrets as _secrets
import time

from .. import catalog, errors, health_probes, references, util
from ..context import Ctx
from . import HANDLERS, aggregated_response, handles, list_response
from .disks import apply_labels

ACTIONS = ("abandoning", "creating", "creatingWithoutRetries", "deleting", "none", "recreating", "refreshing",
           "restarting", "resuming", "starting", "stopping", "suspending", "verifying")
HEALTH = "_localgce_health"  # private key: {instance name: detailedHealthState} set by the control API
HEALTH_STATES = ("HEALTHY", "UNHEALTHY", "TIMEOUT", "UNKNOWN", "DRAINING")
FAILING = ("UNHEALTHY", "TIMEOUT")  # the states autohealing acts on


def _scope(ctx):
    p = ctx.params
    return f"zones/{p['zone']}" if "zone" in p else f"regions/{p['region']}"


def _path(ctx, name=None):
    return f"projects/{ctx.project}/{_scope(ctx)}/instanceGroupManagers/{name or ctx.params['instanceGroupManager']}"


def _zones(igm):
    if igm.get("zone"):
        return [util.last(igm["zone"])]
    return [util.last(z["zone"]) for z in igm["distributionPolicy"]["zones"]]


def _fixed_or_percent(value, reference, *, round_up):
    """A FixedOrPercent as answered (with ``calculated``) and its number."""
    value = dict(value or {})
    if value.get("percent") is not None:
        raw = reference * int(value["percent"]) / 100
        n = math.ceil(raw) if round_up else math.floor(raw)
    else:
        n = int(value.get("fixed") or 0)
    value["calculated"] = n
    return value, n


def _template_path(project, ref, field):
    path = util.ref_path(ref, project, field, kind="instanceTemplates")
    return path


def _check_template(store, project, ref, field):
    path = _template_path(project, ref, field)
    store.must(path)
    return util.link(path)


def _check_health_checks(store, project, policies):
    out = []
    for i, pol in enumerate(policies or []):
        field = f"resource.autoHealingPolicies[{i}].healthCheck"
        if not pol.get("healthCheck"):
            raise errors.required(field)
        path = util.ref_path(pol["healthCheck"], project, field, kind="healthChecks")
        store.must(path)
        out.append({"healthCheck": util.link(path), "initialDelaySec": int(pol.get("initialDelaySec", 300))})
    if len(out) > 1:
        raise errors.invalid("Invalid value for field 'resource.autoHealingPolicies': at most one policy.")
    return out


def _normalise(store, project, igm):
    """Fill the API's defaults into a group record and check its references (in place)."""
    versions = igm.get("versions") or []
    if not versions and igm.get("instanceTemplate"):
        versions = [{"instanceTemplate": igm["instanceTemplate"]}]
    if not versions:
        raise errors.required("resource.instanceTemplate")
    if len(versions) > 2:
        raise errors.invalid("Invalid value for field 'resource.versions': at most two versions.")
    out = []
    for i, v in enumerate(versions):
        v = dict(v)
        v["instanceTemplate"] = _check_template(store, project, v.get("instanceTemplate"),
                                                f"resource.versions[{i}].instanceTemplate")
        if i == 0 and len(versions) == 2 and v.get("targetSize"):
            raise errors.invalid_field("resource.versions[0].targetSize", json.dumps(v["targetSize"]),
                                       "Only the second (canary) version takes a targetSize.")
        out.append(v)
    igm["versions"] = out
    igm["instanceTemplate"] = out[0]["instanceTemplate"]
    n = len(_zones(igm))
    pol = igm.setdefault("updatePolicy", {})
    pol.setdefault("type", "OPPORTUNISTIC")
    pol.setdefault("minimalAction", "REPLACE")
    pol.setdefault("replacementMethod", "SUBSTITUTE")
    pol.setdefault("maxSurge", {"fixed": n})
    pol.setdefault("maxUnavailable", {"fixed": n})
    if pol["replacementMethod"] == "RECREATE" and _fixed_or_percent(pol["maxSurge"], 1, round_up=False)[1]:
        raise errors.invalid_field("resource.updatePolicy.maxSurge", json.dumps(pol["maxSurge"]),
                                   "maxSurge must be 0 with replacementMethod RECREATE.")
    target = int(igm.get("targetSize") or 0)
    for key in ("maxSurge", "maxUnavailable"):
        pol[key] = _fixed_or_percent(pol[key], target, round_up=False)[0]
    if len(out) == 2:
        out[1]["targetSize"] = _fixed_or_percent(out[1].get("targetSize"), target, round_up=True)[0]
    igm["autoHealingPolicies"] = _check_health_checks(store, project, igm.get("autoHealingPolicies"))
    if not igm["autoHealingPolicies"]:
        del igm["autoHealingPolicies"]
    aic = igm.get("allInstancesConfig")
    if aic:
        util.check_labels("resource.allInstancesConfig.properties.labels",
                          (aic.get("properties") or {}).get("labels") or {})
    return igm


def _revision(igm):
    aic = (igm.get("allInstancesConfig") or {}).get("properties") or {}
    return hashlib.sha256(json.dumps(aic, sort_keys=True).encode()).hexdigest()[:16] if aic else ""


def _desired_templates(igm):
    """[(template link, wanted count)] for the versions."""
    target = int(igm.get("targetSize") or 0)
    vs = igm["versions"]
    if len(vs) == 1:
        return [(vs[0]["instanceTemplate"], target)]
    canary = min(target, _fixed_or_percent(vs[1].get("targetSize"), target, round_up=True)[1])
    return [(vs[0]["instanceTemplate"], target - canary), (vs[1]["instanceTemplate"], canary)]


class _Group:
    """One step of convergence of one group, with the store lock held."""

    def __init__(self, ctx, igm):
        self.ctx = ctx
        self.store = ctx.store
        self.project = ctx.project
        self.igm = igm
        self.members = references.members(ctx.store, igm)
        self.health = self.store.priv(util.strip_url(igm["selfLink"])).setdefault(HEALTH, {})
        # Real probes where the backend can reach guests (VM simulator), else the control API's word.
        self.prober = None
        if igm.get("autoHealingPolicies"):
            self.prober = health_probes.for_app(ctx.app, watched=_watched,
                                                converge=functools.partial(_converge_live, ctx.app))

    def health_state(self, name):
        """A member's detailedHealthState: the control API's value while one is set, else the
        prober's (UNKNOWN until the first verdict), else HEALTHY (API-only mode)."""
        if name in self.health:
            return self.health[name]
        if self.prober is None:
            return "HEALTHY"
        inst = self.instance(name)
        return self.prober.state(self.igm["selfLink"], name, inst["id"]) if inst is not None else "UNKNOWN"

    # -- instances -------------------------------------------------------------------------
    def _run(self, method_id, params, query, body, path):
        app = self.ctx.app
        sub = Ctx(app, "POST", path, app.discovery.methods[method_id], {"project": self.project, **params},
                  query, body)
        return HANDLERS[method_id](sub)

    def instance(self, name):
        m = self.members[name]
        return self.store.get(references.instance_path(self.project, m["zone"], name))

    def intended_metadata(self, template):
        """The metadata the group gives a member: its template's, with allInstancesConfig laid over it
        (and the created-by key the API adds)."""
        tmpl = self.store.get(util.strip_url(template))
        props = (tmpl or {}).get("properties") or {}
        items = {i["key"]: i.get("value") for i in (props.get("metadata") or {}).get("items") or []}
        items["created-by"] = util.strip_url(self.igm["selfLink"])
        aic = (self.igm.get("allInstancesConfig") or {}).get("properties") or {}
        items.update(aic.get("metadata") or {})
        return items

    def create(self, name, template, zone, action="creating"):
        """Create member NAME from TEMPLATE; ``action`` is its currentAction until the new VM runs
        (recreating for a member that keeps its name)."""
        rec = self.members.get(name) or {}
        replaced = rec.get("replaced_id")
        body = {"name": name, "metadata": {"items": []}}
        tmpl = self.store.get(util.strip_url(template))
        props = copy.deepcopy(tmpl["properties"])
        items = self.intended_metadata(template)
        aic = (self.igm.get("allInstancesConfig") or {}).get("properties") or {}
        body["metadata"]["items"] = [{"key": k, "value": v} for k, v in items.items()]
        labels = {**(props.get("labels") or {}), **(aic.get("labels") or {})}
        if labels:
            body["labels"] = labels
        preserved = rec.get("preserved") or {}
        if preserved:
            disks = []
            for i, d in enumerate(props.get("disks") or []):
                device = d.get("deviceName") or f"persistent-disk-{i}"
                if device in preserved:
                    disks.append({"source": preserved[device], "deviceName": device, "boot": bool(d.get("boot")),
                                  "mode": d.get("mode") or "READ_WRITE", "autoDelete": False})
                else:
                    disks.append(d)
            body["disks"] = disks
        member = {"zone": zone, "template": template, "revision": _revision(self.igm), "created": time.time(),
                  "preserved": preserved, "action": action}
        old = self.store.get(references.instance_path(self.project, zone, name))
        if old is not None:
            # Its old VM is still being deleted (operations take time): a later step creates it.
            self.members[name] = {**member, "created": 0, "replaced_id": old["id"]}
            return
        self._run("compute.instances.insert", {"zone": zone}, {"sourceInstanceTemplate": template}, body,
                  references.instance_path(self.project, zone, name))
        if replaced:
            member["replaced_id"] = replaced
        self.members[name] = member
        self.health.pop(name, None)

    def delete(self, name, *, keep_disks):
        m = self.members[name]
        inst = self.instance(name)
        if inst is not None:
            stateful = ((self.igm.get("statefulPolicy") or {}).get("preservedState") or {}).get("disks") or {}
            preserved = {}
            for ad in inst.get("disks", []):
                if ad["deviceName"] in stateful:
                    never = stateful[ad["deviceName"]].get("autoDelete", "NEVER") == "NEVER"
                    if keep_disks or never:
                        ad["autoDelete"] = False
                        preserved[ad["deviceName"]] = ad["source"]
            m["preserved"] = preserved if keep_disks else {}
            self._run("compute.instances.delete", {"zone": m["zone"], "instance": name}, {}, None,
                      references.instance_path(self.project, m["zone"], name))

    def recreate(self, name, template):
        """Delete member NAME and create it again under its name (stateful disks kept)."""
        m = self.members[name]
        inst = self.instance(name)
        m["replaced_id"] = inst["id"] if inst is not None else m.get("replaced_id")
        self.delete(name, keep_disks=True)
        self.create(name, template, m["zone"], action="recreating")

    def new_name(self):
        base = self.igm["baseInstanceName"]
        while True:
            name = f"{base}-{''.join(_secrets.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(4))}"
            if name not in self.members:
                return name

    def zone_for_new(self):
        zones = _zones(self.igm)
        counts = {z: 0 for z in zones}
        for m in self.members.values():
            if m["zone"] in counts:
                counts[m["zone"]] += 1
        return min(zones, key=lambda z: (counts[z], zones.index(z)))

    # -- one step ----------------------------------------------------------------------------
    def step(self):
        """Converge one step; returns True when nothing was left to do (stable)."""
        igm, members = self.igm, self.members
        busy = False
        # Deleted behind the group's back: recreated under the same name.
        for name, m in list(members.items()):
            if self.instance(name) is None:
                self.create(name, m["template"], m["zone"], action=m.get("action") or "recreating")
                busy = True
        # Autohealing: unhealthy past initialDelaySec -> recreated, stateful disks kept.
        policy = (igm.get("autoHealingPolicies") or [None])[0]
        if policy:
            for name, m in list(members.items()):
                inst = self.instance(name)
                if (inst is not None and inst["status"] == "RUNNING" and self.health_state(name) in FAILING
                        and time.time() - m["created"] >= policy["initialDelaySec"]):
                    self.recreate(name, m["template"])
                    busy = True
        desired = _desired_templates(igm)
        target = int(igm.get("targetSize") or 0)
        pol = igm["updatePolicy"]
        surge = _fixed_or_percent(pol["maxSurge"], target, round_up=False)[1]
        unavailable = _fixed_or_percent(pol["maxUnavailable"], target, round_up=False)[1]
        if surge + unavailable == 0:
            unavailable = 1  # the API refuses both 0; an old record still moves
        old = self.outdated(desired)
        rolling = pol["type"] == "PROACTIVE" and bool(old)
        # Surge VMs are new members on the new version; a member with stateful disks is replaced
        # by one that takes them over, after it is deleted (as RECREATE, within maxUnavailable).
        stateful = bool(((igm.get("statefulPolicy") or {}).get("preservedState") or {}).get("disks"))
        surging = rolling and pol["replacementMethod"] != "RECREATE" and not stateful
        # Size: at most maxSurge members above the target while a rolling update runs.
        limit = target + (surge if surging else 0)
        while len(members) > limit:
            wanted = {t for t, n in desired if n}
            victim = sorted(members, key=lambda n: (members[n]["template"] in wanted, n not in old, n))[0]
            self.delete(victim, keep_disks=False)
            del members[victim]
            old = [n for n in old if n != victim]
            busy = True
        # Missing members, then (rolling) the surge: new members on the versions short of their count.
        while len(members) < limit:
            counts = {t: sum(1 for m in members.values() if m["template"] == t) for t, _ in desired}
            short = [t for t, n in desired if counts.get(t, 0) < n]
            if not short and len(members) >= target:
                break
            self.create(self.new_name(), short[0] if short else desired[0][0], self.zone_for_new())
            busy = True
        if rolling:
            busy = True  # not stable while old members remain, even when they must wait
            # Old members go as new ones become available: at least targetSize - maxUnavailable
            # members stay available (the API's updater; maxUnavailable 0 never drops capacity).
            available = {n for n in members if self.available(n)}
            for name in sorted(old, key=lambda n: (n in available, n)):
                if name not in members:
                    continue
                if len(available - {name}) < target - unavailable:
                    break
                available.discard(name)
                to = dict(self.moves(desired)).get(name)
                if to is not None and not surging:
                    self.replace(name, to)  # RECREATE, or stateful disks that move to the new VM
                else:
                    self.delete(name, keep_disks=False)  # a surge VM replaces it, or one too many
                    del members[name]
                busy = True
        elif pol["type"] == "PROACTIVE" and not any(self.current_action(n) != "none" for n in members):
            batch = max(1, surge + unavailable)
            rev = _revision(igm)
            stale = [n for n, m in sorted(members.items()) if m["revision"] != rev]
            for name in stale[:batch]:
                self.refresh(name)
                busy = True
        return not busy

    def available(self, name):
        """The API's available member: RUNNING with no current action and, if the group has a health
        check, HEALTHY at least once."""
        inst = self.instance(name)
        if inst is None or inst["status"] != "RUNNING" or self.current_action(name) != "none":
            return False
        m = self.members[name]
        if self.igm.get("autoHealingPolicies") and not m.get("healthy_once"):
            if self.health_state(name) != "HEALTHY":
                return False
            m["healthy_once"] = True
        return True

    def outdated(self, desired):
        """Members above their version's count (the ones a rolling update removes)."""
        counts = {t: n for t, n in desired}
        out = []
        for name in sorted(self.members):
            t = self.members[name]["template"]
            if counts.get(t, 0) > 0:
                counts[t] -= 1
            else:
                out.append(name)
        return out

    def moves(self, desired):
        """[(member, template it must move to)] so that each version has its count."""
        counts = {t: n for t, n in desired}
        keep, move = [], []
        for name in sorted(self.members):
            t = self.members[name]["template"]
            if counts.get(t, 0) > 0:
                counts[t] -= 1
                keep.append(name)
            else:
                move.append(name)
        out = []
        for name in move:
            t = next((t for t, n in counts.items() if n > 0), None)
            if t is None:
                break
            counts[t] -= 1
            out.append((name, t))
        return out

    def replace(self, name, template):
        m = self.members[name]
        recreate = self.igm["updatePolicy"]["replacementMethod"] == "RECREATE"
        self.delete(name, keep_disks=True)
        new = name if recreate else self.new_name()
        preserved = m.get("preserved") or {}
        del self.members[name]
        if preserved:
            self.members[new] = {"preserved": preserved}
        self.create(new, template, m["zone"])

    def refresh(self, name):
        """Apply allInstancesConfig to a running member (metadata and labels; no restart)."""
        inst = self.instance(name)
        aic = (self.igm.get("allInstancesConfig") or {}).get("properties") or {}
        if inst is not None:
            # The group's intended metadata, as on creation: a key deleted from allInstancesConfig
            # goes (or falls back to the template's value).
            items = self.intended_metadata(self.members[name]["template"])
            inst["metadata"] = {"kind": "compute#metadata", "fingerprint": util.fingerprint(),
                                "items": [{"key": k, "value": v} for k, v in items.items()]}
            if aic.get("labels"):
                apply_labels(inst, {**(inst.get("labels") or {}), **aic["labels"]})
            inst["fingerprint"] = util.fingerprint()
        self.members[name]["revision"] = _revision(self.igm)

    # -- what the API answers --------------------------------------------------------------
    def status(self, stable):
        igm, members = self.igm, self.members
        desired = _desired_templates(igm)
        counts = {a: 0 for a in ACTIONS}
        for name in members:
            counts[self.current_action(name)] += 1
        reached = stable and not self.moves(desired) and all(
            sum(1 for m in members.values() if m["template"] == t) == n for t, n in desired)
        effective = all(m["revision"] == _revision(igm) for m in members.values())
        igm["currentActions"] = counts
        igm["status"] = {
            "isStable": bool(stable and counts["none"] == len(members)),
            "versionTarget": {"isReached": bool(reached)},
            "allInstancesConfig": {"effective": effective, "currentRevision": _revision(igm)},
            "stateful": {"hasStatefulConfig": bool(igm.get("statefulPolicy")),
                         "perInstanceConfigs": {"allEffective": True}},
        }
        igm["targetSize"] = int(igm.get("targetSize") or 0)

    def current_action(self, name):
        m = self.members[name]
        inst = self.instance(name)
        pending = m.get("action")
        if inst is None:
            return pending or "creating"
        if pending and (inst["status"] != "RUNNING" or inst["id"] == m.get("replaced_id")):
            return pending
        m.pop("action", None)
        m.pop("replaced_id", None)
        return {"PROVISIONING": "creating", "STAGING": "creating", "STOPPING": "deleting"}.get(inst["status"], "none")

    def managed(self, name):
        m = self.members[name]
        inst = self.instance(name)
        out = {"instance": util.link(references.instance_path(self.project, m["zone"], name)),
               "name": name, "currentAction": self.current_action(name).upper(),
               "version": {"instanceTemplate": m["template"]}}
        for v in self.igm["versions"]:
            if v["instanceTemplate"] == m["template"] and v.get("name"):
                out["version"]["name"] = v["name"]
        if inst is not None:
            out["id"] = inst["id"]
            out["instanceStatus"] = inst["status"]
        policy = (self.igm.get("autoHealingPolicies") or [None])[0]
        if policy:
            out["instanceHealth"] = [{"healthCheck": policy["healthCheck"],
                                      "detailedHealthState": self.health_state(name)}]
        if m.get("preserved"):
            out["preservedStateFromPolicy"] = {"disks": {d: {"source": s, "mode": "READ_WRITE",
                                                             "autoDelete": "NEVER"}
                                                         for d, s in m["preserved"].items()}}
        return out


def converge(ctx, igm):
    group = _Group(ctx, igm)
    stable = group.step()
    group.status(stable)
    return group


def _watched(store):
    """What the health prober probes: every autohealed group (all projects), its health check and
    its members."""
    return [(igm, store.get(util.strip_url(igm["autoHealingPolicies"][0]["healthCheck"])),
             references.member_instances(store, igm))
            for igm in references.autohealed_groups(store)]


def _converge_live(app, igm):
    """The prober's step of a group, unless the group was deleted or replaced meanwhile."""
    path = util.strip_url(igm["selfLink"])
    if app.store.get(path) is igm:
        ctx = Ctx(app, "GET", "/compute/v1/" + path, None, {"project": path.split("/")[1]}, {}, None)
        converge(ctx, igm)


def set_health(store, project, zone, instance, state):
    """The control API's health of a group member: one of HEALTH_STATES, or None to hand the
    member back to the prober (VM mode) or to the default HEALTHY (API-only mode). A value set
    here holds until it is cleared or the instance is recreated."""
    inst = store.must(references.instance_path(project, zone, instance))
    created_by = next((i.get("value") for i in inst["metadata"].get("items") or [] if i["key"] == "created-by"),
                      None)
    if not created_by:
        raise ValueError(f"instance {instance} is not in a managed instance group")
    health = store.priv(created_by).setdefault(HEALTH, {})
    if state is None:
        health.pop(instance, None)
    else:
        health[instance] = state
    store.changed()


# -- handlers ---------------------------------------------------------------------------------
@handles("compute.instanceGroupManagers.insert", "compute.regionInstanceGroupManagers.insert")
def insert(ctx):
    body = copy.deepcopy(ctx.body)
    path = _path(ctx, body["name"])
    if ctx.store.get(path) is not None:
        raise errors.already_exists(path)
    scope = _scope(ctx)
    igm = {k: v for k, v in body.items() if v not in (None, [], {})}
    igm.update(kind="compute#instanceGroupManager", id=util.new_id(), creationTimestamp=util.now(),
               selfLink=util.link(path), fingerprint=util.fingerprint(),
               baseInstanceName=body.get("baseInstanceName") or body["name"],
               listManagedInstancesResults=body.get("listManagedInstancesResults") or "PAGELESS")
    util.check_name("resource.baseInstanceName", igm["baseInstanceName"])
    if "zone" in ctx.params:
        igm["zone"] = util.link(f"projects/{ctx.project}/{scope}")
    else:
        region = ctx.params["region"]
        igm["region"] = util.link(f"projects/{ctx.project}/{scope}")
        zones = [util.last(z.get("zone", "")) for z in (body.get("distributionPolicy") or {}).get("zones") or []]
        for z in zones:
            if catalog.ZONES.get(z) != region:
                raise errors.invalid_field("resource.distributionPolicy.zones", z, f"Not a zone of {region}.")
        zones = zones or catalog.REGIONS[region][:3]
        igm["distributionPolicy"] = {
            "zones": [{"zone": util.link(f"projects/{ctx.project}/zones/{z}")} for z in zones],
            "targetShape": (body.get("distributionPolicy") or {}).get("targetShape") or "EVEN"}
    _normalise(ctx.store, ctx.project, igm)
    group_path = path.replace("/instanceGroupManagers/", "/instanceGroups/")
    igm["instanceGroup"] = util.link(group_path)
    group = {"kind": "compute#instanceGroup", "id": util.new_id(), "creationTimestamp": util.now(),
             "name": body["name"], "selfLink": util.link(group_path), "fingerprint": util.fingerprint(),
             "network": util.link(f"projects/{ctx.project}/global/networks/default"), "size": 0}
    for key in ("zone", "region"):
        if key in igm:
            group[key] = igm[key]

    def immediate():
        ctx.store.put(path, igm)
        ctx.store.put(group_path, group)

    return ctx.op("compute.instanceGroupManagers.insert", path, scope=scope, target_id=igm["id"], immediate=immediate,
                  done=lambda: _after(ctx, path))


def _after(ctx, path):
    igm = ctx.store.get(path)
    if igm is not None:
        converge(ctx, igm)
        _sync_group(ctx.store, igm)


def _sync_group(store, igm):
    group = store.get(util.strip_url(igm["instanceGroup"]))
    if group is not None:
        group["size"] = len(references.members(store, igm))


def _read(ctx):
    igm = ctx.store.must(_path(ctx))
    converge(ctx, igm)
    _sync_group(ctx.store, igm)
    return igm


@handles("compute.instanceGroupManagers.get", "compute.regionInstanceGroupManagers.get")
def get(ctx):
    return _read(ctx)


@handles("compute.instanceGroupManagers.list", "compute.regionInstanceGroupManagers.list")
def list_(ctx):
    coll = f"projects/{ctx.project}/{_scope(ctx)}/instanceGroupManagers"
    items = ctx.store.list(coll)
    for igm in items:
        converge(ctx, igm)
    return list_response(ctx, "compute#instanceGroupManagerList", items, coll)


@handles("compute.instanceGroupManagers.aggregatedList")
def aggregated(ctx):
    found = dict(ctx.store.colls_matching(ctx.project, "instanceGroupManagers"))
    for items in found.values():
        for igm in items:
            converge(ctx, igm)
    scopes = [(f"zones/{z}", found.get(f"zones/{z}", [])) for z in catalog.ZONES]
    scopes += [(f"regions/{r}", found.get(f"regions/{r}", [])) for r in catalog.REGIONS]
    return aggregated_response(ctx, "compute#instanceGroupManagerAggregatedList", "instanceGroupManagers", scopes,
                               f"projects/{ctx.project}/aggregated/instanceGroupManagers")


def _mutation(ctx, op_type, change):
    path = _path(ctx)
    igm = ctx.store.must(path)

    def done():
        change(igm)
        igm["fingerprint"] = util.fingerprint()
        converge(ctx, igm)
        _sync_group(ctx.store, igm)

    return ctx.op(op_type, path, scope=_scope(ctx), target_id=igm["id"], done=done)


@handles("compute.instanceGroupManagers.patch", "compute.regionInstanceGroupManagers.patch")
def patch(ctx):
    path = _path(ctx)
    igm = ctx.store.must(path)
    body = ctx.body
    if body.get("fingerprint") and not util.same_fingerprint(body["fingerprint"], igm["fingerprint"]):
        raise errors.condition_not_met("Supplied fingerprint does not match current instance group manager "
                                       "fingerprint.")
    merged = copy.deepcopy(igm)
    for key, value in body.items():
        if key in ("fingerprint", "name"):
            continue
        if key == "updatePolicy" and isinstance(value, dict):
            merged["updatePolicy"] = {**merged.get("updatePolicy", {}), **value}
        elif key == "allInstancesConfig" and isinstance(value, dict):
            # JSON merge patch, as the API: maps merge, a null deletes a key (gcloud's
            # all-instances-config delete sends {"metadata": {"KEY": null}}).
            merged[key] = util.merge_patch(merged.get(key) or {}, value)
        else:
            merged[key] = value
    if "versions" in body:
        merged.pop("instanceTemplate", None)
    elif "instanceTemplate" in body:
        merged["versions"] = [{"instanceTemplate": body["instanceTemplate"]}]
    _normalise(ctx.store, ctx.project, merged)

    def change(current):
        current.clear()
        current.update(merged)

    return _mutation(ctx, "compute.instanceGroupManagers.patch", change)


@handles("compute.instanceGroupManagers.resize", "compute.regionInstanceGroupManagers.resize")
def resize(ctx):
    size = int(ctx.query["size"])
    if size < 0:
        raise errors.invalid_field("size", size, "Must be at least 0.")
    return _mutation(ctx, "compute.instanceGroupManagers.resize", lambda igm: igm.update(targetSize=size))


def _named(ctx, igm, field="instances"):
    members = references.members(ctx.store, igm)
    names = []
    for i, ref in enumerate(ctx.body.get(field) or []):
        name = util.last(ref)
        if name not in members:
            raise errors.invalid_field(f"{field}[{i}]", ref, "The instance is not a member of the managed "
                                       "instance group.")
        names.append(name)
    return names


def _on_members(ctx, op_type, names, act):
    """A mutation that runs ``act(group, names)`` on the members ``names`` when the operation is done."""
    return _mutation(ctx, op_type, lambda current: act(_Group(ctx, current), names))


@handles("compute.instanceGroupManagers.deleteInstances", "compute.regionInstanceGroupManagers.deleteInstances")
def delete_instances(ctx):
    def act(group, names):
        for name in names:
            group.delete(name, keep_disks=False)
            del group.members[name]
        group.igm["targetSize"] = max(0, int(group.igm.get("targetSize") or 0) - len(names))

    names = _named(ctx, ctx.store.must(_path(ctx)))
    return _on_members(ctx, "compute.instanceGroupManagers.deleteInstances", names, act)


@handles("compute.instanceGroupManagers.recreateInstances", "compute.regionInstanceGroupManagers.recreateInstances")
def recreate_instances(ctx):
    def act(group, names):
        desired = dict(group.moves(_desired_templates(group.igm)))
        for name in names:
            group.recreate(name, desired.get(name, group.members[name]["template"]))

    names = _named(ctx, ctx.store.must(_path(ctx)))
    return _on_members(ctx, "compute.instanceGroupManagers.recreateInstances", names, act)


@handles("compute.instanceGroupManagers.applyUpdatesToInstances",
         "compute.regionInstanceGroupManagers.applyUpdatesToInstances")
def apply_updates(ctx):
    igm = ctx.store.must(_path(ctx))
    body = ctx.body
    members = references.members(ctx.store, igm)
    names = sorted(members) if body.get("allInstances") else _named(ctx, igm)
    minimal = body.get("minimalAction") or "NONE"

    def act(group, names):
        desired = dict(group.moves(_desired_templates(group.igm)))
        for name in names:
            if name in desired and minimal in ("REPLACE", "RESTART", "NONE", "REFRESH"):
                # A new template needs REPLACE; the API does it whatever the minimal action.
                group.replace(name, desired[name])
            else:
                group.refresh(name)

    return _on_members(ctx, "compute.instanceGroupManagers.applyUpdatesToInstances", names, act)


@handles("compute.instanceGroupManagers.delete", "compute.regionInstanceGroupManagers.delete")
def delete(ctx):
    path = _path(ctx)
    igm = ctx.store.must(path)

    def done():
        group = _Group(ctx, igm)
        for name in list(group.members):
            group.delete(name, keep_disks=False)
        ctx.store.delete(util.strip_url(igm["instanceGroup"]))
        ctx.store.delete(path)

    return ctx.op("compute.instanceGroupManagers.delete", path, scope=_scope(ctx), target_id=igm["id"],
                  done=done)


@handles("compute.instanceGroupManagers.listManagedInstances",
         "compute.regionInstanceGroupManagers.listManagedInstances")
def list_managed(ctx):
    igm = _read(ctx)
    group = _Group(ctx, igm)
    items = [group.managed(n) for n in sorted(group.members)]
    out = {"managedInstances": items} if items else {}
    return out


@handles("compute.instanceGroupManagers.listErrors", "compute.regionInstanceGroupManagers.listErrors")
def list_errors(ctx):
    ctx.store.must(_path(ctx))
    return {"items": []}


# -- the groups they manage ---------------------------------------------------------------------
def _group_path(ctx):
    return f"projects/{ctx.project}/{_scope(ctx)}/instanceGroups/{ctx.params['instanceGroup']}"


@handles("compute.instanceGroups.get", "compute.regionInstanceGroups.get")
def group_get(ctx):
    return ctx.store.must(_group_path(ctx))


@handles("compute.instanceGroups.list", "compute.regionInstanceGroups.list")
def group_list(ctx):
    coll = f"projects/{ctx.project}/{_scope(ctx)}/instanceGroups"
    return list_response(ctx, "compute#instanceGroupList", ctx.store.list(coll), coll)


@handles("compute.instanceGroups.listInstances", "compute.regionInstanceGroups.listInstances")
def group_list_instances(ctx):
    path = _group_path(ctx)
    ctx.store.must(path)
    igm = ctx.store.get(path.replace("/instanceGroups/", "/instanceGroupManagers/"))
    state = (ctx.body or {}).get("instanceState") or "ALL"
    items = []
    if igm is not None:
        group = converge(ctx, igm)
        for name in sorted(group.members):
            inst = group.instance(name)
            if inst is None or (state == "RUNNING" and inst["status"] != "RUNNING"):
                continue
            item = {"instance": inst["selfLink"], "status": inst["status"]}
            if igm.get("namedPorts"):
                item["namedPorts"] = igm["namedPorts"]
            items.append(item)
    chunk = {"kind": "compute#instanceGroupsListInstances", "id": path, "selfLink": util.link(path)}
    if items:
        chunk["items"] = items
    return chunk


@handles("compute.autoscalers.list", "compute.regionAutoscalers.list")
def autoscalers_list(ctx):
    coll = f"projects/{ctx.project}/{_scope(ctx)}/autoscalers"
    return list_response(ctx, "compute#autoscalerList", [], coll)


@handles("compute.autoscalers.aggregatedList")
def autoscalers_aggregated(ctx):
    scopes = [(f"zones/{z}", []) for z in catalog.ZONES] + [(f"regions/{r}", []) for r in catalog.REGIONS]
    return aggregated_response(ctx, "compute#autoscalerAggregatedList", "autoscalers", scopes,
                               f"projects/{ctx.project}/aggregated/autoscalers")
