"""instanceTemplates (global: insert, get, list, aggregatedList, delete) and regionInstanceTemplates
(insert, get, list, delete); instances.insert honours ``?sourceInstanceTemplate=`` (see instances.py)."""

from __future__ import annotations

import copy

from .. import catalog, errors, references, util
from . import Collection, handles, images

INSTANCE_TEMPLATES = Collection("instanceTemplates", "instanceTemplate", kind="compute#instanceTemplate",
                                scopes=("global", "regions"), users=references.template_users)


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
            store.must(npath)


@handles("compute.instanceTemplates.insert", "compute.regionInstanceTemplates.insert")
def insert(ctx):
    def fields():
        props = copy.deepcopy(ctx.body.get("properties") or {})
        _check_properties(ctx.store, ctx.project, props)
        props.setdefault("metadata", {})["kind"] = "compute#metadata"
        return {"properties": props}

    return INSTANCE_TEMPLATES.insert(ctx, fields)


get = handles("compute.instanceTemplates.get", "compute.regionInstanceTemplates.get")(INSTANCE_TEMPLATES.get)
list_ = handles("compute.instanceTemplates.list", "compute.regionInstanceTemplates.list")(INSTANCE_TEMPLATES.list_)
aggregated = handles("compute.instanceTemplates.aggregatedList")(INSTANCE_TEMPLATES.aggregated)
delete = handles("compute.instanceTemplates.delete",
                 "compute.regionInstanceTemplates.delete")(INSTANCE_TEMPLATES.delete)


def instance_body(store, project, zone, template_ref, body):
    """An instances.insert body from a template plus the request's own fields (which win)."""
    path = util.ref_path(template_ref, project, "sourceInstanceTemplate", kind="instanceTemplates")
    tmpl = store.must(path)
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
