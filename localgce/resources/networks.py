"""networks and subnetworks: get and list of the seeded `default` auto-mode network."""

from __future__ import annotations

from .. import catalog
from . import aggregated_response, handles, list_response


@handles("compute.networks.get")
def get_network(ctx):
    return ctx.store.must(f"projects/{ctx.project}/global/networks/{ctx.params['network']}")


@handles("compute.networks.list")
def list_networks(ctx):
    coll = f"projects/{ctx.project}/global/networks"
    return list_response(ctx, "compute#networkList", ctx.store.list(coll), coll)


@handles("compute.subnetworks.get")
def get_subnetwork(ctx):
    p = ctx.params
    return ctx.store.must(f"projects/{ctx.project}/regions/{p['region']}/subnetworks/{p['subnetwork']}")


@handles("compute.subnetworks.list")
def list_subnetworks(ctx):
    coll = f"projects/{ctx.project}/regions/{ctx.params['region']}/subnetworks"
    return list_response(ctx, "compute#subnetworkList", ctx.store.list(coll), coll)


@handles("compute.subnetworks.aggregatedList")
def agg_subnetworks(ctx):
    found = dict(ctx.store.colls_matching(ctx.project, "subnetworks"))
    scopes = [(f"regions/{r}", found.get(f"regions/{r}", [])) for r in catalog.REGIONS]
    return aggregated_response(ctx, "compute#subnetworkAggregatedList", "subnetworks", scopes,
                               f"projects/{ctx.project}/aggregated/subnetworks")
