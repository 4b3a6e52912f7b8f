"""healthChecks (global: insert, get, list, aggregatedList, patch, delete) and regionHealthChecks
(insert, get, list, patch, delete), for the types HTTP, HTTPS and TCP."""

from __future__ import annotations

from .. import errors, references
from . import Collection, handles

TYPES = {"HTTP": "httpHealthCheck", "HTTPS": "httpsHealthCheck", "TCP": "tcpHealthCheck"}
DEFAULT_PORT = {"HTTP": 80, "HTTPS": 443, "TCP": 80}
HEALTH_CHECKS = Collection("healthChecks", "healthCheck", kind="compute#healthCheck", scopes=("global", "regions"),
                           aggregated_kind="compute#healthChecksAggregatedList", users=references.health_check_users)


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
    return HEALTH_CHECKS.insert(ctx, lambda: _normalised(ctx.body))


get = handles("compute.healthChecks.get", "compute.regionHealthChecks.get")(HEALTH_CHECKS.get)
list_ = handles("compute.healthChecks.list", "compute.regionHealthChecks.list")(HEALTH_CHECKS.list_)
aggregated = handles("compute.healthChecks.aggregatedList")(HEALTH_CHECKS.aggregated)
delete = handles("compute.healthChecks.delete", "compute.regionHealthChecks.delete")(HEALTH_CHECKS.delete)


@handles("compute.healthChecks.patch", "compute.regionHealthChecks.patch")
def patch(ctx):
    path = HEALTH_CHECKS.path(ctx)
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

    return ctx.op("patch", path, scope=HEALTH_CHECKS.scope(ctx), target_id=hc["id"], done=done)
