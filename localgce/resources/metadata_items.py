"""Checks on metadata items shared by instances and projects (not a resource)."""

from __future__ import annotations

from .. import errors, util

MAX_VALUE = 256 * 1024
MAX_TOTAL = 512 * 1024


def new_metadata(items):
    """A metadata record with a new fingerprint, holding ``items`` (checked by ``check_metadata``)."""
    md = {"kind": "compute#metadata", "fingerprint": util.fingerprint()}
    if items:
        md["items"] = items
    return md


def check_metadata(items, field):
    seen = set()
    total = 0
    out = []
    for i, item in enumerate(items):
        key = item.get("key")
        value = item.get("value")
        if key is None:
            raise errors.required(f"{field}.items[{i}].key")
        if key in seen:
            raise errors.invalid(f"Invalid value for field '{field}.items[{i}].key': '{key}'. Duplicate keys are "
                                 "not allowed.")
        seen.add(key)
        value = "" if value is None else value
        size = len(value.encode())
        if size > MAX_VALUE:
            raise errors.invalid(f"Value for field '{field}.items[{i}].value' is too large: maximum size "
                                 f"{MAX_VALUE} character(s); actual size {size}.")
        total += size + len(key.encode())
        out.append({"key": key, "value": value})
    if total > MAX_TOTAL:
        raise errors.invalid(f"The total size of the metadata for field '{field}' is too large: maximum size "
                             f"{MAX_TOTAL} byte(s); actual size {total}.")
    return out
