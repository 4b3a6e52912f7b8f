# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_firewall's engine: read the rule, plan its create, patch, replace or delete, and run the plan.

The plan keeps the before/after summaries: check mode is the plan not run, the diff its before/after.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._firewall.options import (
    api_rules,
    describe_rules,
    validate_firewall_params,
    wanted_rules,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import basename, qualify, relative, self_link
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_plan import Plan

_OUTPUT_ONLY = ("kind", "id", "creationTimestamp", "selfLink")


def desired_rule(params, project, rules):
    """The rule as the API holds it, with gcloud's defaults filled in."""
    kind = "denied" if params["denied"] is not None else "allowed"
    ingress = params["direction"] == "INGRESS"
    source_ranges = sorted(set(params["source_ranges"] or []))
    source_tags = sorted(set(params["source_tags"] or []))
    destination_ranges = sorted(set(params["destination_ranges"] or []))
    if ingress and not source_ranges and not source_tags:
        source_ranges = ["0.0.0.0/0"]  # what gcloud and the API do
    if not ingress and not destination_ranges:
        destination_ranges = ["0.0.0.0/0"]
    return {
        "name": params["name"],
        "network": qualify(params["network"], project, collection="global/networks"),
        "direction": params["direction"],
        "priority": params["priority"],
        kind: rules,
        "sourceRanges": source_ranges,
        "sourceTags": source_tags,
        "destinationRanges": destination_ranges,
        "targetTags": sorted(set(params["target_tags"] or [])),
        "description": params["description"] or "",
        "disabled": bool(params["disabled"]),
        "logConfig": {"enable": bool(params["log"])},
    }


def summary(rule):
    """A rule (API form or desired) as the module returns and diffs it."""
    if not rule:
        return {}
    out = {
        "name": rule["name"],
        "network": basename(rule.get("network")),
        "direction": rule.get("direction", "INGRESS"),
        "priority": int(rule.get("priority", 1000)),
    }
    if rule.get("denied"):
        out["denied"] = api_rules(rule["denied"])
    else:
        out["allowed"] = api_rules(rule.get("allowed"))
    for key in ("sourceRanges", "sourceTags", "destinationRanges", "targetTags"):
        out[key] = sorted(set(rule.get(key) or []))
    out["description"] = rule.get("description") or ""
    out["disabled"] = bool(rule.get("disabled", False))
    out["log"] = bool((rule.get("logConfig") or {}).get("enable", False))
    out["selfLink"] = rule.get("selfLink")
    return out


# Summary key -> API field, for the fields a patch can carry.
_FIELDS = {
    "priority": "priority",
    "allowed": "allowed",
    "denied": "denied",
    "sourceRanges": "sourceRanges",
    "sourceTags": "sourceTags",
    "destinationRanges": "destinationRanges",
    "targetTags": "targetTags",
    "description": "description",
    "disabled": "disabled",
    "log": "logConfig",
}


def _describe(rule):
    kind = "deny" if rule.get("denied") else "allow"
    text = "%s %s" % (kind, describe_rules(rule.get("denied") or rule.get("allowed") or []))
    if rule.get("sourceRanges") or rule.get("sourceTags"):
        text += " from %s" % ", ".join((rule.get("sourceRanges") or []) + (rule.get("sourceTags") or []))
    if rule.get("destinationRanges"):
        text += " to %s" % ", ".join(rule["destinationRanges"])
    if rule.get("targetTags"):
        text += " on tags %s" % ", ".join(rule["targetTags"])
    return text


def _body(rule):
    """An API body without empty values (the client drops them anyway)."""
    return {k: v for k, v in rule.items() if v not in ([], {}, None, "")}


def converge(gcp):
    """cos_firewall's run: validate the options, then reconcile the rule and exit."""
    params = gcp.params
    validate_firewall_params(params)
    name = params["name"]
    project = gcp.api.project
    what = "firewall rule %r" % name
    actual = gcp.api.get("firewalls", doing="read " + what, project=project, firewall=name)
    plan = Plan(before=summary(actual))
    if params["state"] == "absent":
        if actual:
            plan.add(
                "delete %s" % what,
                lambda: gcp.mutate("firewalls", "delete_unary", doing="delete " + what, firewall=name),
                becomes={},
            )
        plan.execute(gcp.check_mode)
        gcp.exit(changed=plan.changed, actions=plan.descriptions, diff=plan.diff(), firewall={})
        return
    desired = desired_rule(params, project, wanted_rules(params))
    after = summary(dict(desired, selfLink=self_link("projects/%s/global/firewalls/%s" % (project, name))))
    if actual is None:
        body = _body(desired)
        plan.add(
            "create %s (%s)" % (what, _describe(after)),
            lambda: gcp.mutate("firewalls", "insert_unary", doing="create " + what, firewall_resource=body),
            becomes=after,
        )
    else:
        fixed = []
        if relative(actual.get("network")) != desired["network"]:
            fixed.append("network is %s, not %s" % (basename(actual.get("network")), basename(desired["network"])))
        if actual.get("direction", "INGRESS") != desired["direction"]:
            fixed.append("direction is %s, not %s" % (actual.get("direction", "INGRESS"), desired["direction"]))
        if fixed:
            raise GcpError(
                "%s cannot be changed in place: %s; the module never recreates a rule: delete it first "
                "(state: absent) or use another name" % (what, "; ".join(fixed))
            )
        changed = [key for key in _FIELDS if plan.before.get(key) != after.get(key)]
        if changed:
            plan_update(gcp, plan, what, name, actual, desired, after, changed)
    plan.execute(gcp.check_mode)
    final = plan.after
    if plan.changed and not gcp.check_mode:
        final = summary(gcp.api.get("firewalls", doing="read " + what, project=project, firewall=name))
    gcp.exit(changed=plan.changed, actions=plan.descriptions, diff=plan.diff(), firewall=final)


def plan_update(gcp, plan, what, name, actual, desired, after, changed):
    before = plan.before
    # A merge patch cannot clear a field (empty values are dropped from the body), nor turn an
    # allow rule into a deny rule (the old list would stay): those go through update (PUT).
    clears = [k for k in changed if after.get(k) in ([], "") and before.get(k) not in ([], "", None)]
    switch = ("allowed" in changed and "denied" in changed) or bool(actual.get("denied")) != bool(desired.get("denied"))
    words = ", ".join("%s %s -> %s" % (k, _short(before.get(k)), _short(after.get(k))) for k in changed)
    if clears or switch:
        body = {k: v for k, v in actual.items() if k not in _OUTPUT_ONLY and k not in ("allowed", "denied")}
        body.update(desired)
        body = _body(body)
        plan.add(
            "replace %s (%s)" % (what, words),
            lambda: gcp.mutate("firewalls", "update_unary", doing="update " + what, firewall=name,
                               firewall_resource=body),
            becomes=after,
        )
        return
    body = {"name": name}
    for key in changed:
        field = _FIELDS[key]
        body[field] = desired[field]
    plan.add(
        "patch %s (%s)" % (what, words),
        lambda: gcp.mutate("firewalls", "patch_unary", doing="patch " + what, firewall=name, firewall_resource=body),
        becomes=after,
    )


def _short(value):
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return "[%s]" % describe_rules(value)
        return "[%s]" % ", ".join(str(v) for v in value)
    return repr(value)
