"""addresses (regional static IPs): insert, get, list, delete. Regional operations come from here.

A static EXTERNAL address named as an access config's natIP (instances.insert, addAccessConfig)
turns IN_USE with the instance in ``users``, and RESERVED again when the access config or the
instance goes (deleteAccessConfig, instances.delete); an address in use cannot be deleted.
"""

from __future__ import annotations

import ipaddress
import os

from .. import catalog, errors, util
from . import Collection, handles

ADDRESSES = Collection("addresses", "address", kind="compute#address", scopes=("regions",),
                       users=lambda _store, _project, addr: addr.get("users") or [])


@handles("compute.addresses.insert")
def insert(ctx):
    body = ctx.body
    path = ADDRESSES.path(ctx, body["name"])
    if ctx.store.get(path) is not None:
        raise errors.already_exists(path)
    kind = body.get("addressType") or "EXTERNAL"
    if body.get("address"):
        try:
            ipaddress.ip_address(body["address"])
        except ValueError:
            raise errors.invalid_field("resource.address", body["address"], "Must be an IP address.") from None
        ip = body["address"]
    elif kind == "INTERNAL":
        b = os.urandom(2)
        base = catalog.SUBNET_RANGES[ctx.params["region"]].split("/")[0].rsplit(".", 2)[0]
        ip = f"{base}.{b[0] % 15}.{b[1] % 250 + 3}"
    else:
        b = os.urandom(3)
        ip = f"35.{b[0] % 200 + 10}.{b[1]}.{b[2] % 250 + 2}"
    addr = {
        "kind": "compute#address",
        "id": util.new_id(),
        "creationTimestamp": util.now(),
        "name": body["name"],
        "address": ip,
        "status": "RESERVED",
        "region": util.link(f"projects/{ctx.project}/regions/{ctx.params['region']}"),
        "selfLink": util.link(path),
        "networkTier": body.get("networkTier") or "PREMIUM",
        "addressType": kind,
        "ipVersion": body.get("ipVersion") or "IPV4",
        "labelFingerprint": util.fingerprint(),
    }
    for key in ("description", "labels", "purpose", "subnetwork"):
        if body.get(key):
            addr[key] = body[key]
    return ctx.op("insert", path, scope=f"regions/{ctx.params['region']}", target_id=addr["id"],
                  immediate=lambda: ctx.store.put(path, addr))


get = handles("compute.addresses.get")(ADDRESSES.get)
list_ = handles("compute.addresses.list")(ADDRESSES.list_)
delete = handles("compute.addresses.delete")(ADDRESSES.delete)


# -- static external addresses used by instances' access configs --------------------------------
def find_by_ip(store, project, region, ip):
    """(path, address) of the static address ``ip`` in the region, or (None, None)."""
    coll = f"projects/{project}/regions/{region}/addresses"
    for addr in store.list(coll):
        if addr.get("address") == ip:
            return f"{coll}/{addr['name']}", addr
    return None, None


def check_claimable(store, project, region, ip, field):
    """The address record a natIP names: it must be reserved (not in use) in the instance's region."""
    path, addr = find_by_ip(store, project, region, ip)
    if addr is None or addr.get("addressType", "EXTERNAL") != "EXTERNAL":
        raise errors.invalid_field(field, ip, "Specified IP address is not reserved or is not in the same region "
                                   "as the instance.")
    if addr.get("users"):
        raise errors.in_use(path, util.strip_url(addr["users"][0]), "address")
    return addr


def claim(addr, user_link):
    addr["status"] = "IN_USE"
    addr["users"] = [user_link]


def release(store, project, region, ip, user_link):
    """The instance ``user_link`` no longer uses ``ip``: its static address (if any) is RESERVED again."""
    _path, addr = find_by_ip(store, project, region, ip)
    if addr is not None and user_link in (addr.get("users") or []):
        addr.pop("users", None)
        addr["status"] = "RESERVED"
