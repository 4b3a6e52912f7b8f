"""projects: get and setCommonInstanceMetadata (project-wide metadata the guests see)."""

from __future__ import annotations

from .. import errors, util
from . import handles
from .metadata_items import check_metadata, new_metadata


@handles("compute.projects.get")
def get(ctx):
    return ctx.store.ensure_project(ctx.project)


@handles("compute.projects.setCommonInstanceMetadata")
def set_common(ctx):
    store = ctx.store
    with store.lock:
        proj = store.ensure_project(ctx.project)
        body = ctx.body
        current = proj["commonInstanceMetadata"]
        if body.get("fingerprint") and not util.same_fingerprint(body["fingerprint"], current.get("fingerprint")):
            raise errors.condition_not_met("Supplied fingerprint does not match current metadata fingerprint.")
        items = check_metadata(body.get("items") or [], "commonInstanceMetadata")

        def done():
            proj["commonInstanceMetadata"] = new_metadata(items)

        return ctx.op("compute.projects.setCommonInstanceMetadata", f"projects/{ctx.project}", scope="global",
                      target_id=proj["id"], done=done)
