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


class _Catalogue:
    """A zonal type read from the static catalogue: ``res(project, zone, name)`` for each of
    ``names`` in every zone."""

    def __init__(self, collection, param, kind, res, names):
        self.collection, self.param, self.kind, self.res, self.names = collection, param, kind, res, names

    def _items(self, project, zone):
        return [self.res(project, zone, n) for n in self.names]

    def get(self, ctx):
        return self.res(ctx.project, ctx.params["zone"], ctx.params[self.param])

    def list_(self, ctx):
        zone = ctx.params["zone"]
        return list_response(ctx, self.kind + "List", self._items(ctx.project, zone),
                             f"projects/{ctx.project}/zones/{zone}/{self.collection}")

    def aggregated(self, ctx):
        scopes = [(f"zones/{z}", self._items(ctx.project, z)) for z in catalog.ZONES]
        return aggregated_response(ctx, self.kind + "AggregatedList", self.collection, scopes,
                                   f"projects/{ctx.project}/aggregated/{self.collection}")


MACHINE_TYPES = _Catalogue("machineTypes", "machineType", "compute#machineType", machine_type_res,
                           catalog.MACHINE_TYPES)
DISK_TYPES = _Catalogue("diskTypes", "diskType", "compute#diskType", disk_type_res, catalog.DISK_TYPES)

get_mt = handles("compute.machineTypes.get")(MACHINE_TYPES.get)
list_mt = handles("compute.machineTypes.list")(MACHINE_TYPES.list_)
agg_mt = handles("compute.machineTypes.aggregatedList")(MACHINE_TYPES.aggregated)
get_dt = handles("compute.diskTypes.get")(DISK_TYPES.get)
list_dt = handles("compute.diskTypes.list")(DISK_TYPES.list_)
