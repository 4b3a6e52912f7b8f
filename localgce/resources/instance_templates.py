"""instanceTemplates (global: insert, get, list, aggregatedList, delete) and regionInstanceTemplates
(insert, get, list, delete); instances.insert honours ``?sourceInstanceTemplate=`` (see instances.py)."""

from __future__ import annotations

import copy

from .. import catalog, errors, util
from . import aggregated_response, handles, images, list_response


def _scope(ctx):
    return f"regions/{ctx.params['region']}" if "region" in ctx.params else "global"


def _path(ctx, name):
    return f"projects/{ctx.project}/{_scope(ctx)}/instanceTemplates/{name}"


def _check_properties(store, project, props):
    """What the API checks at template insert: the machine type (a bare name), images, networks."""
    field = "resource.properties"
    mt = props.get("machineType")
    if not mt:
        raise errors.required(f"{field}.machineType")
    if "/" in mt:
        raise errors.invalid_field(f"{field}.machineType", mt, "Instance templates take a machine type name, "
                                   "not a URL.")
    if mt not in catalog.MACHINE_TYPES and not catalog.custom_machine_type(mt):
        raise errors.invalid_field(f"{field}.machineType", mt, f"Machine type with name '{mt}' does not exist.")
    for i, disk in enumerate(props.get("disks") or []):
        ip = disk.get("initializeParams") or {}
        if ip.get("sourceImage"):
            ipath = util.ref_path(ip["sourceImage"], project, f"{field}.disks[{i}].initializeParams.sourceImage")
            images.check_usable(images.resolve(store, ipath))
        dtype = ip.get("diskType")
        if dtype and util.last(dtype) not in catalog.DISK_TYPES:
            raise errors.invalid_field(f"{field}.disks[{i}].initializeParams.diskType", dtype,
                                       "Unknown disk type.")
    for i, nic in enumerate(props.get("networkInterfaces") or []):
        if nic.get("network"):
            npath = util.ref_path(nic["network"], project, f"{field}.networkInterfaces[{i}].network",
                                  kind="networks")
            if store.get(npath) is None:
                raise errors.not_found(npath)


@handles("compute.instanceTemplates.insert", "compute.regionInstanceTemplates.insert")
def insert(ctx):
    body = ctx.body
    path = _path(ctx, body["name"])
    if ctx.store.get(path) is not None:
        raise errors.already_exists(path)
    props = copy.deepcopy(body.get("properties") or {})
    _check_properties(ctx.store, ctx.project, props)
    props.setdefault("metadata", {})["kind"] = "compute#metadata"
    tmpl = {
        "kind": "compute#instanceTemplate",
        "id": util.new_id(),
        "creationTimestamp": util.now(),
        "name": body["name"],
        "properties": props,
        "selfLink": util.link(path),
    }
    if body.get("description"):
        tmpl["description"] = body["description"]
    if "region" in ctx.params:
        tmpl["region"] = util.link(f"projects/{ctx.project}/regions/{ctx.params['region']}")
    return ctx.op("insert", path, scope=_scope(ctx), target_id=tmpl["id"], immediate=lambda: ctx.store.put(path, tmpl))


@handles("compute.instanceTemplates.get", "compute.regionInstanceTemplates.get")
def get(ctx):
    return ctx.store.must(_path(ctx, ctx.params["instanceTemplate"]))


@handles("compute.instanceTemplates.list", "compute.regionInstanceTemplates.list")
def list_(ctx):
    coll = f"projects/{ctx.project}/{_scope(ctx)}/instanceTemplates"
    return list_response(ctx, "compute#instanceTemplateList", ctx.store.list(coll), coll)


@handles("compute.instanceTemplates.aggregatedList")
def aggregated(ctx):
    """Global templates under 'global', and a scope per region."""
    found = dict(ctx.store.colls_matching(ctx.project, "instanceTemplates"))
    scopes = [("global", found.get("global", []))] + [(f"regions/{r}", found.get(f"regions/{r}", []))
                                                      for r in catalog.REGIONS]
    return aggregated_response(ctx, "compute#instanceTemplateAggregatedList", "instanceTemplates", scopes,
                               f"projects/{ctx.project}/aggregated/instanceTemplates")


@handles("compute.instanceTemplates.delete", "compute.regionInstanceTemplates.delete")
def delete(ctx):
    path = _path(ctx, ctx.params["instanceTemplate"])
    tmpl = ctx.store.must(path)
    from .instance_group_managers import template_users

    used = template_users(ctx.store, ctx.project, tmpl["selfLink"])
    if used:
        raise errors.ApiError(400, "resourceInUseByAnotherResource",
                              f"The instance_template resource '{path}' is already being used by "
                              f"'{util.strip_url(used[0])}'")
    return ctx.op("delete", path, scope=_scope(ctx), target_id=tmpl["id"], done=lambda: ctx.store.delete(path))


def instance_body(store, project, zone, template_ref, body):
    """An instances.insert body from a template plus the request's own fields (which win)."""
    path = util.ref_path(template_ref, project, "sourceInstanceTemplate", kind="instanceTemplates")
    tmpl = store.get(path)
    if tmpl is None:
        raise errors.not_found(path)
    props = copy.deepcopy(tmpl["properties"])
    props.get("metadata", {}).pop("kind", None)
    if props.get("machineType"):
        props["machineType"] = f"zones/{zone}/machineTypes/{props['machineType']}"
    for disk in props.get("disks") or []:
        ip = disk.get("initializeParams") or {}
        if ip.get("diskType") and "/" not in ip["diskType"]:
            ip["diskType"] = f"zones/{zone}/diskTypes/{ip['diskType']}"
    merged = {**props, **{k: v for k, v in body.items() if v not in (None, [], {})}}
    return merged
