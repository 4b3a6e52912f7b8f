# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Which managed instance groups use a resource, and the API's refusal to delete one in use.

Instance templates (a group's versions) and health checks (its autohealing) cannot be deleted
while a group names them; the modules look the groups up first, to say which group keeps a
resource, and read the same from a ``resourceInUseByAnotherResource`` refusal (a group that
took the resource between the look-up and the delete).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import relative

IN_USE = "resourceInUseByAnotherResource"
_USED_BY_RE = re.compile(r"already being used by '([^']+)'")


def group_references(gcp):
    """{"templates": {path: [groups]}, "health_checks": {path: [groups]}} over every group, zonal and regional."""
    scopes = gcp.api.call(
        "instance_group_managers", "aggregated_list", doing="look up managed instance groups", project=gcp.api.project
    )
    out = {"templates": {}, "health_checks": {}}
    for _scope, scoped in sorted(scopes.items()):
        for igm in scoped.get("instanceGroupManagers") or []:
            group = relative(igm["selfLink"])
            versions = igm.get("versions") or []
            templates = set([igm.get("instanceTemplate")] + [v.get("instanceTemplate") for v in versions])
            checks = set(p.get("healthCheck") for p in igm.get("autoHealingPolicies") or [])
            for kind, refs in (("templates", templates), ("health_checks", checks)):
                for ref in sorted(r for r in refs if r):
                    out[kind].setdefault(relative(ref), []).append(group)
    return out


def in_use_by(exc):
    """The resource named by a GcpError that refuses a delete of a resource in use, or None for other errors."""
    if exc.reason != IN_USE and IN_USE not in str(exc):
        return None
    found = _USED_BY_RE.search(str(exc))
    return relative(found.group(1)) if found else "another resource"
