"""addresses (regional static IPs): insert, get, list, delete. Regional operations come from here."""

from __future__ import annotations

import ipaddress
import os

from .. import catalog, errors, util
from . import handles, list_response


def _path(ctx, name):
    return f"projects/{ctx.project}/regions/{ctx.params['region']}/addresses/{name}"


@handles("compute.addresses.insert")
def insert(ctx):
    body = ctx.body
    path = _path(ctx, body["name"])
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


@handles("compute.addresses.get")
def get(ctx):
    return ctx.store.must(_path(ctx, ctx.params["address"]))


@handles("compute.addresses.list")
def list_(ctx):
    coll = f"projects/{ctx.project}/regions/{ctx.params['region']}/addresses"
    return list_response(ctx, "compute#addressList", ctx.store.list(coll), coll)


@handles("compute.addresses.delete")
def delete(ctx):
    path = _path(ctx, ctx.params["address"])
    addr = ctx.store.must(path)
    if addr.get("users"):
        raise errors.ApiError(400, "resourceInUseByAnotherResource",
                              f"The address resource '{path}' is already being used by '{addr['users'][0]}'")
    return ctx.op("delete", path, scope=f"regions/{ctx.params['region']}", target_id=addr["id"],
                  done=lambda: ctx.store.delete(path))
