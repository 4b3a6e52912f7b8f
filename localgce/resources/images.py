"""images: get, list, getFromFamily (cos-cloud is seeded by the store)."""

from __future__ import annotations

from .. import errors, util
from . import Collection, handles

IMAGES = Collection("images", "image", kind="compute#image", scopes=("global",))


def is_active(img):
    return img.get("deprecated", {}).get("state", "ACTIVE") == "ACTIVE"


def from_family(store, project, family):
    """The newest non-deprecated image of a family, or None."""
    cands = [i for i in store.list(f"projects/{project}/global/images") if i.get("family") == family and is_active(i)]
    if not cands:
        return None
    return max(cands, key=lambda i: i["creationTimestamp"])


def check_usable(image, warnings=None):
    """DEPRECATED images work with an operation warning; OBSOLETE and DELETED ones are refused."""
    dep = image.get("deprecated") or {}
    state = dep.get("state", "ACTIVE")
    path = util.strip_url(image["selfLink"])
    repl = util.strip_url(dep.get("replacement", ""))
    if state in ("OBSOLETE", "DELETED"):
        raise errors.ApiError(400, "resourceNotReady" if state == "DELETED" else "invalid",
                              f"The resource '{path}' is {state.lower()}"
                              + (f". A suggested replacement is '{repl}'." if repl else "."))
    if state == "DEPRECATED" and warnings is not None:
        msg = f"The resource '{path}' is deprecated." + (f" A suggested replacement is '{repl}'." if repl else "")
        warnings.append({"code": "DEPRECATED_RESOURCE_USED", "message": msg,
                         "data": [{"key": "resource_name", "value": path}]})


def resolve(store, path):
    """An image from 'projects/P/global/images/NAME', '.../images/family/F' or a zonal family view
    'projects/P/zones/Z/imageFamilyViews/F'; raises 404."""
    parts = path.split("/")
    if len(parts) == 6 and parts[4] == "family":
        img = from_family(store, parts[1], parts[5])
    elif len(parts) == 6 and parts[2] == "zones" and parts[4] == "imageFamilyViews":
        # gcloud's --image-family on a public project: 'projects/P/zones/-/imageFamilyViews/F'
        # ('-' is the instance's zone).
        img = from_family(store, parts[1], parts[5])
    elif len(parts) == 5 and parts[2:4] == ["global", "images"]:
        img = store.get(path)
    else:
        img = None
    if img is None:
        raise errors.not_found(path)
    return img


get = handles("compute.images.get")(IMAGES.get)
list_ = handles("compute.images.list")(IMAGES.list_)


def _family_image(ctx, path):
    """The image the request's family resolves to; a 404 names ``path``."""
    img = from_family(ctx.store, ctx.project, ctx.params["family"])
    if img is None:
        raise errors.not_found(path)
    return img


@handles("compute.images.getFromFamily")
def get_from_family(ctx):
    return _family_image(ctx, f"projects/{ctx.project}/global/images/family/{ctx.params['family']}")


@handles("compute.imageFamilyViews.get")
def get_family_view(ctx):
    """The image a family resolves to in one zone (gcloud's --image-family on a public project)."""
    path = f"projects/{ctx.project}/zones/{ctx.params['zone']}/imageFamilyViews/{ctx.params['family']}"
    return {"image": _family_image(ctx, path)}
