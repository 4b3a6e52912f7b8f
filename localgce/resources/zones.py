"""zones and regions (static catalogue, same for every project)."""

from __future__ import annotations

from .. import catalog, errors, util
from . import handles, list_response


def _place(kind, first_id, names, name):
    """What a zone and a region record share: static, UP, an id from the catalogue's order."""
    return {"kind": kind, "id": str(first_id + sorted(names).index(name)),
            "creationTimestamp": "1969-12-31T16:00:00.000-08:00", "name": name, "description": name,
            "status": "UP"}


def zone_res(project, zone):
    region = catalog.ZONES[zone]
    return {
        **_place("compute#zone", 2000, catalog.ZONES, zone),
        "region": util.link(f"projects/{project}/regions/{region}"),
        "selfLink": util.link(f"projects/{project}/zones/{zone}"),
        "availableCpuPlatforms": sorted(set(catalog.CPU_PLATFORM.values())),
        "supportsPzs": False,
    }


def region_res(project, region):
    return {
        **_place("compute#region", 1000, catalog.REGIONS, region),
        "zones": [util.link(f"projects/{project}/zones/{z}") for z in catalog.REGIONS[region]],
        "quotas": [{"metric": "CPUS", "limit": 2400, "usage": 0}],
        "selfLink": util.link(f"projects/{project}/regions/{region}"),
        "supportsPzs": False,
    }


@handles("compute.zones.get")
def get_zone(ctx):
    return zone_res(ctx.project, ctx.params["zone"])


@handles("compute.zones.list")
def list_zones(ctx):
    items = [zone_res(ctx.project, z) for z in catalog.ZONES]
    return list_response(ctx, "compute#zoneList", items, f"projects/{ctx.project}/zones")


@handles("compute.regions.get")
def get_region(ctx):
    region = ctx.params["region"]
    if region not in catalog.REGIONS:
        raise errors.not_found(f"projects/{ctx.project}/regions/{region}")
    return region_res(ctx.project, region)


@handles("compute.regions.list")
def list_regions(ctx):
    items = [region_res(ctx.project, r) for r in catalog.REGIONS]
    return list_response(ctx, "compute#regionList", items, f"projects/{ctx.project}/regions")
