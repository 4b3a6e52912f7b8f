"""zoneOperations, regionOperations, globalOperations: get, list, wait, delete."""

from __future__ import annotations

from .. import catalog, errors
from . import aggregated_response, handles, list_response


def _scope(ctx):
    p = ctx.params
    if "zone" in p:
        return f"zones/{p['zone']}"
    if "region" in p:
        return f"regions/{p['region']}"
    return "global"


def _path(ctx):
    return f"projects/{ctx.project}/{_scope(ctx)}/operations/{ctx.params['operation']}"


def _find(ctx):
    path = _path(ctx)
    op = ctx.store.get(path)
    if op is None:
        # The operation may be named by its numeric id.
        coll = path.rsplit("/", 1)[0]
        for cand in ctx.store.list(coll):
            if cand["id"] == ctx.params["operation"]:
                return coll + "/" + cand["name"]
        raise errors.not_found(path)
    return path


@handles("compute.zoneOperations.get", "compute.regionOperations.get", "compute.globalOperations.get")
def get(ctx):
    with ctx.store.lock:
        return dict(ctx.store.get(_find(ctx)))


@handles("compute.zoneOperations.wait", "compute.regionOperations.wait", "compute.globalOperations.wait")
def wait(ctx):
    path = _find(ctx)
    return dict(ctx.app.ops.wait(path, ctx.app.wait_timeout))


@handles("compute.zoneOperations.delete", "compute.regionOperations.delete", "compute.globalOperations.delete")
def delete(ctx):
    ctx.store.delete(_find(ctx))
    return {}


@handles("compute.zoneOperations.list", "compute.regionOperations.list", "compute.globalOperations.list")
def list_(ctx):
    coll = f"projects/{ctx.project}/{_scope(ctx)}/operations"
    with ctx.store.lock:
        items = [dict(o) for o in ctx.store.list(coll)]
    return list_response(ctx, "compute#operationList", items, coll, sort=False)


@handles("compute.globalOperations.aggregatedList")
def aggregated(ctx):
    with ctx.store.lock:
        found = {s: [dict(o) for o in items] for s, items in ctx.store.colls_matching(ctx.project, "operations")}
    scopes = [(s, found.get(s, [])) for s in
              ["global", *(f"regions/{r}" for r in catalog.REGIONS), *(f"zones/{z}" for z in catalog.ZONES)]]
    return aggregated_response(ctx, "compute#operationAggregatedList", "operations", scopes,
                               f"projects/{ctx.project}/aggregated/operations")
