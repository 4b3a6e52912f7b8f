"""snapshots (minimal): insert, get, list, delete; so that disks can come from a snapshot."""

from __future__ import annotations

from .. import errors, util
from . import Collection, handles

SNAPSHOTS = Collection("snapshots", "snapshot", kind="compute#snapshot", scopes=("global",))


def make_snapshot(store, project, body, disk=None):
    name = body["name"]
    path = f"projects/{project}/global/snapshots/{name}"
    if store.get(path) is not None:
        raise errors.already_exists(path)
    if disk is None and body.get("sourceDisk"):
        dpath = util.ref_path(body["sourceDisk"], project, "resource.sourceDisk", kind="disks")
        disk = store.must(dpath)
    snap = {
        "kind": "compute#snapshot",
        "id": util.new_id(),
        "creationTimestamp": util.now(),
        "name": name,
        "status": "CREATING",
        "diskSizeGb": disk["sizeGb"] if disk else str(body.get("diskSizeGb") or 10),
        "storageBytes": "0",
        "storageBytesStatus": "UP_TO_DATE",
        "selfLink": util.link(path),
        "labelFingerprint": util.fingerprint(),
        "storageLocations": ["us"],
        "snapshotType": "STANDARD",
    }
    if body.get("description"):
        snap["description"] = body["description"]
    if body.get("labels"):
        util.check_labels("resource.labels", body["labels"])
        snap["labels"] = dict(body["labels"])
    if disk:
        util.inherit_source(snap, "sourceDisk", disk)
    return path, snap


@handles("compute.snapshots.insert")
def insert(ctx):
    if not ctx.body.get("sourceDisk"):
        raise errors.required("resource.sourceDisk")
    path, snap = make_snapshot(ctx.store, ctx.project, ctx.body)
    return ctx.op("insert", path, scope="global", target_id=snap["id"],
                  immediate=lambda: ctx.store.put(path, snap), done=lambda: snap.update(status="READY"))


get = handles("compute.snapshots.get")(SNAPSHOTS.get)
list_ = handles("compute.snapshots.list")(SNAPSHOTS.list_)
delete = handles("compute.snapshots.delete")(SNAPSHOTS.delete)
