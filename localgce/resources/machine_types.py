"""machineTypes and diskTypes (static catalogue)."""

from __future__ import annotations

import zlib

from .. import catalog, errors, util
from . import aggregated_response, handles, list_response


def machine_type_res(project, zone, name):
    spec = catalog.MACHINE_TYPES.get(name) or catalog.custom_machine_type(name)
    if spec is None:
        raise errors.not_found(f"projects/{project}/zones/{zone}/machineTypes/{name}")
    cpus, mem, desc, shared = spec
    res = {
        "kind": "compute#machineType",
        "id": str(zlib.crc32(name.encode()) + 800000000),
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "name": name,
        "description": desc,
        "guestCpus": cpus,
        "memoryMb": mem,
        "imageSpaceGb": 0,
        "maximumPersistentDisks": 16 if shared else 128,
        "maximumPersistentDisksSizeGb": "3072" if shared else "263168",
        "zone": zone,
        "selfLink": util.link(f"projects/{project}/zones/{zone}/machineTypes/{name}"),
        "isSharedCpu": shared,
        "architecture": "ARM64" if name.startswith("t2a") else "X86_64",
    }
    return res


def disk_type_res(project, zone, name):
    spec = catalog.DISK_TYPES.get(name)
    if spec is None:
        raise errors.not_found(f"projects/{project}/zones/{zone}/diskTypes/{name}")
    desc, default_size, valid = spec
    return {
        "kind": "compute#diskType",
        "id": str(zlib.crc32(name.encode()) + 30000),
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "name": name,
        "description": desc,
        "validDiskSize": valid,
        "zone": util.link(f"projects/{project}/zones/{zone}"),
        "selfLink": util.link(f"projects/{project}/zones/{zone}/diskTypes/{name}"),
        "defaultDiskSizeGb": str(default_size),
    }


@handles("compute.machineTypes.get")
def get_mt(ctx):
    return machine_type_res(ctx.project, ctx.params["zone"], ctx.params["machineType"])


@handles("compute.machineTypes.list")
def list_mt(ctx):
    z = ctx.params["zone"]
    items = [machine_type_res(ctx.project, z, n) for n in catalog.MACHINE_TYPES]
    return list_response(ctx, "compute#machineTypeList", items, f"projects/{ctx.project}/zones/{z}/machineTypes")


@handles("compute.machineTypes.aggregatedList")
def agg_mt(ctx):
    scopes = [(f"zones/{z}", [machine_type_res(ctx.project, z, n) for n in catalog.MACHINE_TYPES])
              for z in catalog.ZONES]
    return aggregated_response(ctx, "compute#machineTypeAggregatedList", "machineTypes", scopes,
                               f"projects/{ctx.project}/aggregated/machineTypes")


@handles("compute.diskTypes.get")
def get_dt(ctx):
    return disk_type_res(ctx.project, ctx.params["zone"], ctx.params["diskType"])


@handles("compute.diskTypes.list")
def list_dt(ctx):
    z = ctx.params["zone"]
    items = [disk_type_res(ctx.project, z, n) for n in catalog.DISK_TYPES]
    return list_response(ctx, "compute#diskTypeList", items, f"projects/{ctx.project}/zones/{z}/diskTypes")
