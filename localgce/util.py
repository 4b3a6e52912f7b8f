"""Small helpers shared by the resources: links, ids, fingerprints, timestamps, references."""

from __future__ import annotations

import base64
import datetime
import os
import re
import secrets as _secrets

from . import errors

LINK_PREFIX = "https://www.googleapis.com/compute/v1/"
# Forms of a full URL the real API accepts in references.
_URL_PREFIXES = (
    "https://www.googleapis.com/compute/v1/",
    "https://compute.googleapis.com/compute/v1/",
    "http://www.googleapis.com/compute/v1/",
    "www.googleapis.com/compute/v1/",
    "compute.googleapis.com/compute/v1/",
)
NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")


def link(path):
    return LINK_PREFIX + path


def now():
    """RFC 3339 with milliseconds, like creationTimestamp (the real API uses Pacific time)."""
    t = datetime.datetime.now(datetime.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}-00:00"


def new_id():
    """A uint64 id, as the API sends it: a decimal string."""
    return str(int.from_bytes(os.urandom(8), "big") >> 1 | (1 << 60))


def fingerprint():
    """A new fingerprint, in the URL-safe base64 form the real API hands out (e.g. 'Z713-OPoCSY=')."""
    return base64.urlsafe_b64encode(os.urandom(8)).decode()


def _fingerprint_bytes(value):
    # The field is bytes on the wire: Google's front end decodes either base64 alphabet, with or
    # without padding.
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except ValueError:
        return None


def same_fingerprint(sent, current):
    """Whether a fingerprint sent back by a client names the current one (either base64 form)."""
    got = _fingerprint_bytes(sent)
    return got is not None and got == _fingerprint_bytes(current)


def op_name():
    import time

    return "operation-%d-%s-%s-%s-%s" % (
        int(time.time() * 1000),
        _secrets.token_hex(6)[:13],
        _secrets.token_hex(4),
        _secrets.token_hex(4),
        _secrets.token_hex(4),
    )


def strip_url(value):
    for p in _URL_PREFIXES:
        if value.startswith(p):
            return value[len(p):]
    return value


def canonical_links(value, own_prefixes, _key=None):
    """``value`` (a request body or query value) with URLs on localgce's own endpoint (what gcloud
    builds from an endpoint override) turned into the canonical form, as the real API takes full
    URLs on its own host. Metadata values are user data and stay as sent."""
    if isinstance(value, str):
        for p in own_prefixes:
            if value.startswith(p):
                return LINK_PREFIX + value[len(p):]
        return value
    if isinstance(value, dict):
        return {k: (v if k == "metadata" else canonical_links(v, own_prefixes, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical_links(v, own_prefixes) for v in value]
    return value


def last(value):
    return value.rstrip("/").rsplit("/", 1)[-1] if value else value


def ref_path(value, project, field, *, kind=None):
    """Normalise a full or partial URL into 'projects/P/...'.

    Accepts what the real API accepts: a full URL, 'projects/P/...', 'zones/Z/...',
    'regions/R/...', 'global/...'. A bare name is refused (the API wants a URL).
    """
    if not isinstance(value, str) or not value:
        raise errors.invalid_field(field, value, "Must be a URL to a valid Compute resource of the correct type.")
    rel = strip_url(value)
    if rel.startswith("projects/"):
        path = rel
    elif rel.startswith(("zones/", "regions/", "global/")):
        path = f"projects/{project}/{rel}"
    else:
        raise errors.invalid_field(field, value, "Must be a URL to a valid Compute resource of the correct type.")
    parts = path.split("/")
    if kind and (len(parts) < 2 or parts[-2] != kind):
        raise errors.invalid_field(field, value, "Must be a URL to a valid Compute resource of the correct type.")
    return path


def check_name(field, value):
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise errors.invalid_field(
            field, value, "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"
        )


LABEL_KEY_RE = re.compile(r"[\w][\w-]{0,62}", re.UNICODE)
LABEL_VALUE_RE = re.compile(r"[\w-]{0,63}", re.UNICODE)


def check_labels(field, labels):
    if len(labels) > 64:
        raise errors.invalid(f"Invalid value for field '{field}': Too many labels (max 64).")
    for k, v in labels.items():
        if not LABEL_KEY_RE.fullmatch(k) or not k[0].isalpha() or k != k.lower():
            raise errors.invalid_field(f"{field}", k, "Label keys must start with a lowercase letter "
                                       "and contain only lowercase letters, digits, '_' and '-' (max 63).")
        if not isinstance(v, str) or not LABEL_VALUE_RE.fullmatch(v) or v != v.lower():
            raise errors.invalid_field(f"{field}.{k}", v, "Label values may contain only lowercase letters, "
                                       "digits, '_' and '-' (max 63).")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch, the API's PATCH semantics: objects merge, null deletes."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def inherit_source(record, field, source):
    """A disk or snapshot made from ``source`` (an image, snapshot or disk record): ``field`` and
    ``field + "Id"`` name it (``sourceImage``, ``sourceImageId``), and the OS facts carry over."""
    record[field] = source["selfLink"]
    record[field + "Id"] = source["id"]
    for key in ("licenses", "guestOsFeatures", "architecture"):
        if source.get(key):
            record[key] = source[key]
