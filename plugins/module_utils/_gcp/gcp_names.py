# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Resource names and selfLinks: validation and normalisation.

The API answers with full selfLinks (https://www.googleapis.com/compute/v1/projects/...)
while users write names, partial paths or URLs of other hosts; everything is compared in
the relative form ``projects/P/zones/Z/instances/N``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.gce.cos.plugins.module_utils._vm.vm_contract import NAME_RE

ZONE_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")

_URL_PREFIX_RE = re.compile(r"^https?://[^/]+/compute/(v1|beta|alpha)/")


def name_error(field, value, what="resource name"):
    """Return an error message for a bad Compute Engine name, or None when it is valid."""
    if isinstance(value, str) and NAME_RE.match(value):
        return None
    return (
        "%s: %r is not a valid %s: use 1-63 characters, lowercase letters, digits and "
        "hyphens, starting with a letter and not ending with a hyphen (RFC1035)" % (field, value, what)
    )


def zone_error(field, value):
    if isinstance(value, str) and ZONE_RE.match(value):
        return None
    return "%s: %r is not a zone name: use the form REGION-ZONE, e.g. us-central1-a" % (field, value)


def region_error(field, value):
    if isinstance(value, str) and REGION_RE.match(value):
        return None
    return "%s: %r is not a region name: use the form e.g. us-central1" % (field, value)


def labels_errors(field, labels):
    """Return the list of errors of a labels mapping (keys and values as GCE accepts them)."""
    errors = []
    for key, value in sorted((labels or {}).items()):
        if not LABEL_KEY_RE.match(str(key)):
            errors.append(
                "%s: key %r is not valid: use lowercase letters, digits, '_' and '-', starting with a "
                "letter, at most 63 characters" % (field, key)
            )
        if not isinstance(value, str) or not LABEL_VALUE_RE.match(value):
            errors.append(
                "%s.%s: value %r is not valid: use at most 63 lowercase letters, digits, '_' and '-'"
                % (field, key, value)
            )
    return errors


def region_of(zone):
    """us-central1-a -> us-central1"""
    return zone.rsplit("-", 1)[0]


def relative(link):
    """Strip the scheme, host and API version of a selfLink; leave other forms unchanged."""
    if not link:
        return link
    return _URL_PREFIX_RE.sub("", link)


def basename(link):
    """The last path segment: the resource's short name."""
    if not link:
        return link
    return link.rstrip("/").rsplit("/", 1)[-1]


def qualify(link, project, zone=None, collection=None):
    """Turn a name or partial path into ``projects/P/...``.

    ``collection`` is the path under the project a bare name belongs to, e.g.
    ``global/networks``, ``zones/{zone}/disks`` or ``regions/us-central1/subnetworks``.
    """
    if not link:
        return link
    link = relative(link)
    if link.startswith("projects/"):
        return link
    if "/" in link:
        # Partial forms the API accepts: global/networks/default, zones/z/disks/d.
        return "projects/%s/%s" % (project, link)
    if collection is None:
        raise ValueError("cannot qualify bare name %r without a collection" % link)
    return "projects/%s/%s/%s" % (project, collection.format(zone=zone), link)


def same(a, b):
    """True when two references name the same resource (full URL vs relative forms)."""
    return relative(a) == relative(b)


def self_link(path):
    return "https://www.googleapis.com/compute/v1/" + relative(path)


def instance_phrase(name, zone):
    """How every message names one instance: ``instance 'web' in us-central1-a``."""
    return "instance %r in %s" % (name, zone)
