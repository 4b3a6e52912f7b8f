"""networks and subnetworks: get and list of the seeded `default` auto-mode network."""

from __future__ import annotations

from . import Collection, handles

NETWORKS = Collection("networks", "network", kind="compute#network", scopes=("global",))
SUBNETWORKS = Collection("subnetworks", "subnetwork", kind="compute#subnetwork", scopes=("regions",))

get_network = handles("compute.networks.get")(NETWORKS.get)
list_networks = handles("compute.networks.list")(NETWORKS.list_)
get_subnetwork = handles("compute.subnetworks.get")(SUBNETWORKS.get)
list_subnetworks = handles("compute.subnetworks.list")(SUBNETWORKS.list_)
agg_subnetworks = handles("compute.subnetworks.aggregatedList")(SUBNETWORKS.aggregated)
