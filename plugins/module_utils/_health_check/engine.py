# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_health_check's engine: read the check, plan its create, patch or delete, and run the plan.

The plan keeps the before/after summaries: check mode is the plan not run, the diff its before/after.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import basename, self_link
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_plan import Plan
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_users import group_references, in_use_by
from ansible_collections.gce.cos.plugins.module_utils._health_check.options import (
    TYPE_FIELDS,
    validate_health_check_params,
    wanted,
)

# Summary key -> API field of the type's settings (the others are top-level fields of the same name).
_PROBE_FIELDS = {"port": "port", "request_path": "requestPath", "host": "host", "response": "response"}
# The summary keys that change the type's settings block.
_PROBE_KEYS = ("type", *_PROBE_FIELDS)
_TOP_FIELDS = {
    "check_interval_sec": "checkIntervalSec",
    "timeout_sec": "timeoutSec",
    "healthy_threshold": "healthyThreshold",
    "unhealthy_threshold": "unhealthyThreshold",
    "description": "description",
}


def summary(hc):
    """A health check in the API's form as the module returns and diffs it."""
    if not hc:
        return {}
    typ = hc.get("type") or next((t for t, f in TYPE_FIELDS.items() if f in hc), None)
    probe = hc.get(TYPE_FIELDS.get(typ, ""), {}) or {}
    out = {
        "name": hc["name"],
        "region": basename(hc.get("region")) or None,
        "type": typ,
        "port": int(probe["port"]) if probe.get("port") is not None else None,
        "request_path": probe.get("requestPath") or None if typ != "TCP" else None,
        "host": (probe.get("host") or None) if typ != "TCP" else None,
        "response": probe.get("response") or None,
    }
    for key, field in _TOP_FIELDS.items():
        value = hc.get(field)
        out[key] = (value or None) if key == "description" else (int(value) if value is not None else None)
    out["self_link"] = hc.get("selfLink")
    return out


def probe_body(want):
    body = {"port": want["port"], "portSpecification": "USE_FIXED_PORT", "proxyHeader": "NONE"}
    for key, field in _PROBE_FIELDS.items():
        if key != "port" and want[key] is not None:
            body[field] = want[key]
    return body


def describe(want):
    words = "%s port %d" % (want["type"], want["port"])
    if want["request_path"]:
        words += " %s" % want["request_path"]
    return words + ", every %ds, timeout %ds" % (want["check_interval_sec"], want["timeout_sec"])


class HealthCheckApi:
    def __init__(self, gcp, name, region):
        self.gcp = gcp
        self.name = name
        self.service = "region_health_checks" if region else "health_checks"
        self.scope = {"region": region} if region else {}
        self.what = "health check %r%s" % (name, " in %s" % region if region else "")
        self.path = "projects/%s/%s/healthChecks/%s" % (
            gcp.api.project, "regions/%s" % region if region else "global", name)

    def read(self):
        return self.gcp.api.get(self.service, doing="read " + self.what, project=self.gcp.api.project,
                                health_check=self.name, **self.scope)

    def mutate(self, method, verb, **fields):
        return self.gcp.mutate(self.service, method, doing="%s %s" % (verb, self.what), **dict(fields, **self.scope))

    def users(self):
        return group_references(self.gcp)["health_checks"].get(self.path, [])

    def in_use_error(self, groups):
        return GcpError(
            "delete %s failed: it is the autohealing health check of %s: remove autohealing from the group "
            "(gce.cos.cos_instance_group), or delete the group first" % (self.what, ", ".join(groups))
        )

    def delete(self):
        try:
            self.mutate("delete_unary", "delete", health_check=self.name)
        except GcpError as exc:
            user = in_use_by(exc)
            if user is None:
                raise
            raise self.in_use_error([user])


def converge(gcp):
    """cos_health_check's run: validate the options, then reconcile the check and exit."""
    p = gcp.params
    validate_health_check_params(p)
    api = HealthCheckApi(gcp, p["name"], p["region"])
    actual = api.read()
    plan = Plan(before=summary(actual))
    if p["state"] == "absent":
        if actual:
            groups = api.users()
            if groups:
                raise api.in_use_error(groups)
            plan.add("delete %s" % api.what, api.delete, becomes={})
        plan.execute(gcp.check_mode)
        gcp.exit(changed=plan.changed, actions=plan.descriptions, diff=plan.diff(), health_check={})
        return
    want = wanted(p)
    after = dict(want, self_link=self_link(api.path))
    if actual is None:
        body = {"name": p["name"], "type": want["type"], TYPE_FIELDS[want["type"]]: probe_body(want)}
        for key, field in _TOP_FIELDS.items():
            if want[key] is not None:
                body[field] = want[key]
        plan.add(
            "create %s (%s)" % (api.what, describe(want)),
            lambda: api.mutate("insert_unary", "create", health_check_resource=body),
            becomes=after,
        )
    else:
        changed = [k for k in (*_PROBE_KEYS, *_TOP_FIELDS) if plan.before.get(k) != after[k]]
        if changed:
            body = {}
            if set(changed) & set(_PROBE_KEYS):
                # The type's settings go whole: the API keeps one block, of the type named.
                probe = probe_body(want)
                for key in ("host", "response", "request_path"):
                    if plan.before.get(key) is not None and want[key] is None and want["type"] != "TCP":
                        probe[_PROBE_FIELDS[key]] = "" if key != "request_path" else "/"
                body.update({"type": want["type"], TYPE_FIELDS[want["type"]]: probe})
            for key in changed:
                if key in _TOP_FIELDS:
                    body[_TOP_FIELDS[key]] = want[key] if want[key] is not None else ""
            words = ", ".join("%s %r -> %r" % (k, plan.before.get(k), after[k]) for k in changed)
            plan.add(
                "patch %s (%s)" % (api.what, words),
                lambda: api.mutate("patch_unary", "patch", health_check=p["name"], health_check_resource=body),
                becomes=after,
            )
    plan.execute(gcp.check_mode)
    final = plan.after
    if plan.changed and not gcp.check_mode:
        final = summary(api.read())
    gcp.exit(changed=plan.changed, actions=plan.descriptions, diff=plan.diff(), health_check=final)
