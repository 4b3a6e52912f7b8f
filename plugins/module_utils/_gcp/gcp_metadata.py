# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Instance metadata: size limits and the fingerprinted read-modify-write of setMetadata.

setMetadata replaces the whole item list and needs the current fingerprint. A module
describes its change as a function of the current items (``change(current) -> wanted``),
so that when another writer slips in between the read and the write (412
``conditionNotMet``) the change is recomputed on a fresh read and sent once more, and
keys the module does not own are carried over untouched.

This file owns every metadata write of the collection (cos_instance and cos_container):
``merged`` computes merge/replace semantics with protected keys, ``size_errors`` the limits,
``set_metadata`` the fingerprinted write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import instance_phrase
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_operations import with_fresh_fingerprint

# Compute Engine limits: per value, and keys plus values per instance.
MAX_VALUE = 256 * 1024
MAX_TOTAL = 512 * 1024


def metadata_dict(instance):
    """{key: value} of an instance dict in the API's JSON form."""
    items = ((instance or {}).get("metadata") or {}).get("items") or []
    return {item["key"]: item.get("value", "") for item in items}


def fingerprint(instance):
    return ((instance or {}).get("metadata") or {}).get("fingerprint")


def items_of(wanted, order=()):
    """The item list for ``wanted``: existing keys keep their order, new keys follow sorted."""
    seen = [k for k in order if k in wanted]
    rest = sorted(k for k in wanted if k not in set(seen))
    return [{"key": k, "value": wanted[k]} for k in seen + rest]


def size(key, value):
    return len(key.encode("utf-8")) + len(value.encode("utf-8"))


def value_error(what, value):
    """An error when one value exceeds 256 KB, else None. ``what`` names it for the user."""
    n = len(value.encode("utf-8"))
    if n > MAX_VALUE:
        return "%s: the value has %d bytes; a metadata value may hold at most %d (256 KB)" % (what, n, MAX_VALUE)
    return None


CONTAINER_HINT = (
    "Make the specs smaller (fewer env values or labels), or spread the containers over more instances"
)


def total_error(metadata, resource, hint=CONTAINER_HINT):
    """An error when keys plus values exceed 512 KB (the biggest keys named), else None."""
    total = sum(size(k, v) for k, v in metadata.items())
    if total <= MAX_TOTAL:
        return None
    biggest = sorted(metadata, key=lambda k: -size(k, metadata[k]))[:5]
    return "metadata of %s would hold %d bytes of keys and values; an instance may hold at most %d (512 KB). " \
        "Largest keys: %s. %s" % (
            resource, total, MAX_TOTAL, ", ".join("%s (%d bytes)" % (k, size(k, metadata[k])) for k in biggest), hint)


def size_errors(metadata, resource, hint=CONTAINER_HINT):
    """Errors for values over 256 KB and a total over 512 KB, biggest keys named; ``hint`` says what to do."""
    errors = []
    for key in sorted(metadata):
        err = value_error("metadata key %s of %s" % (key, resource), metadata[key])
        if err:
            errors.append(err)
    err = total_error(metadata, resource, hint)
    if err:
        errors.append(err)
    return errors


def merged(current, wanted, replace=False, keep=None):
    """The metadata after writing ``wanted`` over ``current``.

    Merge keeps every other key of ``current`` (set by other writers); replace drops them,
    except the keys for which ``keep(key)`` is true (keys another module owns). A value of
    None in ``wanted`` removes that key.
    """
    kept = keep if replace else (lambda key: True)
    result = {k: v for k, v in current.items() if kept is not None and kept(k)}
    for key, value in wanted.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def describe_changes(current, wanted):
    """'add a, change b, remove c' between two metadata dicts (values never shown)."""
    parts = []
    for key in sorted(set(current) | set(wanted)):
        if key not in current:
            parts.append("add %s" % key)
        elif key not in wanted:
            parts.append("remove %s" % key)
        elif current[key] != wanted[key]:
            parts.append("change %s" % key)
    return ", ".join(parts) or "no change"


def set_metadata(gcp, zone, name, instance, change, read, hint=CONTAINER_HINT):
    """Write ``change(current_metadata) -> wanted_metadata`` with the instance's fingerprint.

    ``instance`` is the instance as last read; ``read()`` reads it again (used once, on
    412). Returns the finished operation, or None when the wanted metadata is already there
    (a concurrent writer made the same change). Size limits are checked on what is sent
    (``hint`` completes the error).
    """
    resource = instance_phrase(name, zone)

    def write(inst):
        if inst is None:
            raise GcpError("set metadata of %s failed: the instance no longer exists" % resource, status=404)
        current = metadata_dict(inst)
        wanted = change(current)
        if wanted == current:
            return None
        errors = size_errors(wanted, resource, hint=hint)
        if errors:
            raise GcpError("; ".join(errors))
        body = {"fingerprint": fingerprint(inst), "items": items_of(wanted, list(current))}
        return gcp.mutate(
            "instances", "set_metadata_unary", doing="set metadata " + resource,
            zone=zone, instance=name, metadata_resource=body,
        )

    return with_fresh_fingerprint(instance, read, write)
