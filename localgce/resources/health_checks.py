"""healthChecks (global: insert, get, list, aggregatedList, patch, delete) and regionHealthChecks
(insert, get, list, patch, delete), for the types HTTP, HTTPS and TCP."""

from __future__ import annotations

from .. import catalog, errors, util
from . import aggregated_response, handles, list_response

TYPES = {"HTTP": "httpHealthCheck", "HTTPS": "httpsHealthCheck", "TCP": "tcpHealthCheck"}
DEFAULT_PORT = {"HTTP": 80, "HTTPS": 443, "TCP": 80}


def _scope(ctx):
    return f"regions/{ctx.params['region']}" if "region" in ctx.params else "global"


def _path(ctx, name):
    return f"projects/{ctx.project}/{_scope(ctx)}/healthChecks/{name}"


def _normalised(body, field="resource"):
    typ = body.get("type")
    if typ is None:
        typ = next((t for t, k in TYPES.items() if k in body), None)
    if typ not in TYPES:
        raise errors.invalid_field(f"{field}.type", typ, "localgce emulates the types HTTP, HTTPS and TCP.")
    spec = dict(body.get(TYPES[typ]) or {})
    spec.setdefault("port", DEFAULT_PORT[typ])
    spec.setdefault("proxyHeader", "NONE")
    if typ != "TCP":
        spec.setdefault("requestPath", "/")
    spec.setdefault("portSpecification", "USE_FIXED_PORT")
    out = {"type": typ, TYPES[typ]: spec}
    for key, default in (("checkIntervalSec", 5), ("timeoutSec", 5), ("healthyThreshold", 2),
                         ("unhealthyThreshold", 2)):
        out[key] = int(body.get(key) or default)
    if out["timeoutSec"] > out["checkIntervalSec"]:
        raise errors.invalid_field(f"{field}.timeoutSec", out["timeoutSec"],
                                   "Timeout sec must be less than or equal to check interval sec.")
    return out


@handles("compute.healthChecks.insert", "compute.regionHealthChecks.insert")
def insert(ctx):
    body = ctx.body
    path = _path(ctx, body["name"])
    if ctx.store.get(path) is not None:
        raise errors.already_exists(path)
    hc = {"kind": "compute#healthCheck", "id": util.new_id(), "creationTimestamp": util.now(),
          "name": body["name"], "selfLink": util.link(path), **_normalised(body)}
    if body.get("description"):
        hc["description"] = body["description"]
    if "region" in ctx.params:
        hc["region"] = util.link(f"projects/{ctx.project}/regions/{ctx.params['region']}")
    return ctx.op("insert", path, scope=_scope(ctx), target_id=hc["id"], immediate=lambda: ctx.store.put(path, hc))


@handles("compute.healthChecks.get", "compute.regionHealthChecks.get")
def get(ctx):
    return ctx.store.must(_path(ctx, ctx.params["healthCheck"]))


@handles("compute.healthChecks.list", "compute.regionHealthChecks.list")
def list_(ctx):
    coll = f"projects/{ctx.project}/{_scope(ctx)}/healthChecks"
    return list_response(ctx, "compute#healthCheckList", ctx.store.list(coll), coll)


@handles("compute.healthChecks.aggregatedList")
def aggregated(ctx):
    found = dict(ctx.store.colls_matching(ctx.project, "healthChecks"))
    scopes = [("global", found.get("global", []))] + [(f"regions/{r}", found.get(f"regions/{r}", []))
                                                      for r in catalog.REGIONS]
    return aggregated_response(ctx, "compute#healthChecksAggregatedList", "healthChecks", scopes,
                               f"projects/{ctx.project}/aggregated/healthChecks")


@handles("compute.healthChecks.patch", "compute.regionHealthChecks.patch")
def patch(ctx):
    path = _path(ctx, ctx.params["healthCheck"])
    hc = ctx.store.must(path)
    merged = {k: v for k, v in hc.items() if k not in TYPES.values() or not ctx.body.get("type")}
    for key, value in ctx.body.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    new = _normalised(merged)

    def done():
        for key in TYPES.values():
            hc.pop(key, None)
        hc.update(new)
        if ctx.body.get("description") is not None:
            hc["description"] = ctx.body["description"]

    return ctx.op("patch", path, scope=_scope(ctx), target_id=hc["id"], done=done)


def users(store, project, link):
    """Managed instance groups whose autohealing names this health check."""
    out = []
    for coll, items in store.colls.items():
        if coll.startswith(f"projects/{project}/") and coll.endswith("/instanceGroupManagers"):
            for igm in items.values():
                if any(p.get("healthCheck") == link for p in igm.get("autoHealingPolicies") or []):
                    out.append(igm["selfLink"])
    return out


@handles("compute.healthChecks.delete", "compute.regionHealthChecks.delete")
def delete(ctx):
    path = _path(ctx, ctx.params["healthCheck"])
    hc = ctx.store.must(path)
    used = users(ctx.store, ctx.project, hc["selfLink"])
    if used:
        raise errors.ApiError(400, "resourceInUseByAnotherResource",
                              f"The health_check resource '{path}' is already being used by "
                              f"'{util.strip_url(used[0])}'")
    return ctx.op("delete", path, scope=_scope(ctx), target_id=hc["id"], done=lambda: ctx.store.delete(path))
