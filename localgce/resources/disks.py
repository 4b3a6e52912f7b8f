"""disks: insert (blank, from image, from snapshot), get, list, aggregatedList, delete, resize,
setLabels, createSnapshot."""

from __future__ import annotations

from .. import catalog, errors, util
from . import Collection, handles, images
from .snapshots import make_snapshot

DISKS = Collection("disks", "disk", kind="compute#disk", scopes=("zones",),
                   users=lambda _store, _project, disk: disk.get("users") or [])


def disk_path(project, zone, name):
    return f"projects/{project}/zones/{zone}/disks/{name}"


def resolve_source(store, project, spec, field, warnings=None):
    """(image, snapshot) named by spec['sourceImage'] / spec['sourceSnapshot']; 404 if missing."""
    image = snapshot = None
    if spec.get("sourceImage"):
        path = util.ref_path(spec["sourceImage"], project, f"{field}.sourceImage")
        image = images.resolve(store, path)
        images.check_usable(image, warnings)
    if spec.get("sourceSnapshot"):
        path = util.ref_path(spec["sourceSnapshot"], project, f"{field}.sourceSnapshot", kind="snapshots")
        snapshot = store.must(path)
    return image, snapshot


def new_disk(store, project, zone, name, spec, field="resource", warnings=None):
    """Validate a disk spec (Disk or AttachedDiskInitializeParams) and build the record (not stored).

    Operation warnings (a DEPRECATED source image) are appended to ``warnings``."""
    path = disk_path(project, zone, name)
    if store.get(path) is not None:
        raise errors.already_exists(path)
    image, snapshot = resolve_source(store, project, spec, field, warnings)
    dtype = spec.get("type") or spec.get("diskType") or f"zones/{zone}/diskTypes/pd-standard"
    # A full or partial URL, as the API documents; a bare 'pd-ssd' is refused.
    dtype_path = util.ref_path(dtype, project, f"{field}.{'type' if 'type' in spec else 'diskType'}",
                               kind="diskTypes")
    dt_name = util.last(dtype_path)
    if dt_name not in catalog.DISK_TYPES or dtype_path.split("/")[3] != zone:
        raise errors.not_found(dtype_path)
    src = image or snapshot
    min_size = int(src.get("diskSizeGb", 0)) if src else 0
    size = spec.get("sizeGb") or spec.get("diskSizeGb")
    size = int(size) if size is not None else max(min_size, catalog.DISK_TYPES[dt_name][1] if not src else 0)
    if size < min_size:
        what = "image" if image else "snapshot"
        raise errors.invalid(
            f"Invalid value for field '{field}.sizeGb': '{size}'. Requested disk size cannot be smaller than the "
            f"{what} size ({min_size} GB)"
        )
    if size <= 0:
        raise errors.invalid_field(f"{field}.sizeGb", size, "Disk size must be positive.")
    labels = spec.get("labels") or {}
    util.check_labels(f"{field}.labels", labels)
    disk = {
        "kind": "compute#disk",
        "id": util.new_id(),
        "creationTimestamp": util.now(),
        "name": name,
        "sizeGb": str(size),
        "zone": util.link(f"projects/{project}/zones/{zone}"),
        "status": "CREATING",
        "selfLink": util.link(path),
        "type": util.link(dtype_path),
        "labelFingerprint": util.fingerprint(),
        "physicalBlockSizeBytes": str(spec.get("physicalBlockSizeBytes") or 4096),
        "satisfiesPzi": False,
    }
    for key in ("description",):
        if spec.get(key):
            disk[key] = spec[key]
    if labels:
        disk["labels"] = dict(labels)
    if image:
        util.inherit_source(disk, "sourceImage", image)
    if snapshot:
        util.inherit_source(disk, "sourceSnapshot", snapshot)
    return path, disk


@handles("compute.disks.insert")
def insert(ctx):
    body = dict(ctx.body)
    if ctx.query.get("sourceImage") and not body.get("sourceImage"):
        body["sourceImage"] = ctx.query["sourceImage"]
    zone = ctx.params["zone"]
    if body.get("zone") and util.last(body["zone"]) != zone:
        raise errors.invalid_field("resource.zone", body["zone"], "Must match the zone of the request.")
    warnings = []
    path, disk = new_disk(ctx.store, ctx.project, zone, body["name"], body, warnings=warnings)

    def immediate():
        ctx.store.put(path, disk)

    def done():
        disk["status"] = "READY"

    return ctx.op("insert", path, scope=DISKS.scope(ctx), target_id=disk["id"], immediate=immediate, done=done,
                  warnings=warnings)


get = handles("compute.disks.get")(DISKS.get)
list_ = handles("compute.disks.list")(DISKS.list_)
aggregated = handles("compute.disks.aggregatedList")(DISKS.aggregated)
delete = handles("compute.disks.delete")(DISKS.delete)


@handles("compute.disks.resize")
def resize(ctx):
    path = DISKS.path(ctx)
    disk = ctx.store.must(path)
    new = int(ctx.body.get("sizeGb") or 0)
    cur = int(disk["sizeGb"])
    if new < cur:
        raise errors.invalid(
            f"Invalid value for field 'sizeGb': '{new}'. Requested disk size cannot be smaller than the current "
            f"size ({cur} GB)"
        )

    def done():
        disk["sizeGb"] = str(new)
        # Attachments report the size too.
        for user in disk.get("users") or []:
            inst = ctx.store.get(util.strip_url(user)) or {}
            for ad in inst.get("disks", []):
                if ad.get("source") == disk["selfLink"]:
                    ad["diskSizeGb"] = str(new)

    return ctx.op("resizeDisk", path, scope=DISKS.scope(ctx), target_id=disk["id"], done=done)


def check_label_fingerprint(res, body):
    if not util.same_fingerprint(body.get("labelFingerprint"), res.get("labelFingerprint")):
        raise errors.condition_not_met("Labels fingerprint either invalid or resource labels have changed")


def apply_labels(res, labels):
    if labels:
        res["labels"] = dict(labels)
    else:
        res.pop("labels", None)
    res["labelFingerprint"] = util.fingerprint()


@handles("compute.disks.setLabels")
def set_labels(ctx):
    p = ctx.params
    path = disk_path(ctx.project, p["zone"], p["resource"])
    disk = ctx.store.must(path)
    labels = ctx.body.get("labels") or {}
    util.check_labels("labels", labels)
    check_label_fingerprint(disk, ctx.body)
    return ctx.op("setLabels", path, scope=DISKS.scope(ctx), target_id=disk["id"],
                  done=lambda: apply_labels(disk, labels))


@handles("compute.disks.createSnapshot")
def create_snapshot(ctx):
    path = DISKS.path(ctx)
    disk = ctx.store.must(path)
    snap_path, snap = make_snapshot(ctx.store, ctx.project, ctx.body, disk)
    return ctx.op("createSnapshot", path, scope=DISKS.scope(ctx), target_id=disk["id"],
                  immediate=lambda: ctx.store.put(snap_path, snap), done=lambda: snap.update(status="READY"))
