"""firewalls: insert, get, list, patch, update, delete."""

from __future__ import annotations

from .. import errors, util
from . import handles, list_response

_OUTPUT_ONLY = ("kind", "id", "creationTimestamp", "selfLink")


def _path(project, name):
    return f"projects/{project}/global/firewalls/{name}"


def _normalise(store, project, fw, field="resource"):
    """Check references and fill defaults like the API does (in place)."""
    net_path = util.ref_path(fw.get("network") or "global/networks/default", project, f"{field}.network",
                             kind="networks")
    store.must(net_path)
    fw["network"] = util.link(net_path)
    if bool(fw.get("allowed")) == bool(fw.get("denied")):
        raise errors.invalid(f"Invalid value for field '{field}': ''. Exactly one of 'allowed' or 'denied' must be "
                             "specified.")
    fw.setdefault("priority", 1000)
    if not 0 <= int(fw["priority"]) <= 65535:
        raise errors.invalid_field(f"{field}.priority", fw["priority"], "Must be between 0 and 65535.")
    fw.setdefault("direction", "INGRESS")
    if fw["direction"] == "INGRESS":
        if not (fw.get("sourceRanges") or fw.get("sourceTags") or fw.get("sourceServiceAccounts")):
            fw["sourceRanges"] = ["0.0.0.0/0"]
    elif not fw.get("destinationRanges"):
        fw["destinationRanges"] = ["0.0.0.0/0"]
    for rule in fw.get("allowed") or fw.get("denied"):
        if not rule.get("IPProtocol"):
            raise errors.required(f"{field}.allowed.IPProtocol")
    fw.setdefault("logConfig", {"enable": False})
    fw.setdefault("disabled", False)
    for key in [k for k, v in fw.items() if v in ([], {}, None)]:
        fw.pop(key)
    return fw


@handles("compute.firewalls.insert")
def insert(ctx):
    body = dict(ctx.body)
    path = _path(ctx.project, body["name"])
    if ctx.store.get(path) is not None:
        raise errors.already_exists(path)
    for key in _OUTPUT_ONLY:
        body.pop(key, None)
    fw = {"kind": "compute#firewall", "id": util.new_id(), "creationTimestamp": util.now(), **body,
          "selfLink": util.link(path)}
    _normalise(ctx.store, ctx.project, fw)
    return ctx.op("insert", path, scope="global", target_id=fw["id"], immediate=lambda: ctx.store.put(path, fw))


@handles("compute.firewalls.get")
def get(ctx):
    return ctx.store.must(_path(ctx.project, ctx.params["firewall"]))


@handles("compute.firewalls.list")
def list_(ctx):
    coll = f"projects/{ctx.project}/global/firewalls"
    return list_response(ctx, "compute#firewallList", ctx.store.list(coll), coll)


def _change(ctx, merge):
    name = ctx.params["firewall"]
    path = _path(ctx.project, name)
    cur = ctx.store.must(path)
    body = dict(ctx.body)
    if body.get("name") not in (None, name):
        raise errors.invalid_field("resource.name", body["name"], "The name of a firewall cannot be changed.")
    for key in _OUTPUT_ONLY:
        body.pop(key, None)
    if merge:
        new = {**cur, **body}
        # Patch: a rule kind named in the body replaces the other one.
        if body.get("allowed"):
            new.pop("denied", None)
        if body.get("denied"):
            new.pop("allowed", None)
    else:
        new = {k: cur[k] for k in _OUTPUT_ONLY}
        new.update(body)
        new["name"] = name
    _normalise(ctx.store, ctx.project, new)

    def done():
        cur.clear()
        cur.update(new)

    return ctx.op("patch" if merge else "update", path, scope="global", target_id=cur["id"], done=done)


@handles("compute.firewalls.patch")
def patch(ctx):
    return _change(ctx, merge=True)


@handles("compute.firewalls.update")
def update(ctx):
    return _change(ctx, merge=False)


@handles("compute.firewalls.delete")
def delete(ctx):
    path = _path(ctx.project, ctx.params["firewall"])
    fw = ctx.store.must(path)
    return ctx.op("delete", path, scope="global", target_id=fw["id"], done=lambda: ctx.store.delete(path))
