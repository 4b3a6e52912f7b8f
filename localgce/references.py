"""References between resources, read from the store: the managed instance groups of a project,
the groups that use an instance template or a health check, and a group's members.

A leaf: it imports no resource handler, so a handler that must know who uses its resource (a
template's or health check's delete) and the health prober can ask without importing the group
handlers that hold those references.
"""

from __future__ import annotations

from . import util


def instance_path(project, zone, name):
    return f"projects/{project}/zones/{zone}/instances/{name}"


def groups(store, project=None):
    """Every managed instance group record (zonal and regional) of ``project``, or of every project."""
    prefix = f"projects/{project}/" if project else "projects/"
    for coll, items in store.colls.items():
        if coll.startswith(prefix) and coll.endswith("/instanceGroupManagers"):
            yield from items.values()


def template_users(store, project, template):
    """The selfLinks of the groups with a version on this instance template (a record)."""
    return [g["selfLink"] for g in groups(store, project)
            if any(v["instanceTemplate"] == template["selfLink"] for v in g.get("versions") or [])]


def health_check_users(store, project, health_check):
    """The selfLinks of the groups whose autohealing names this health check (a record)."""
    return [g["selfLink"] for g in groups(store, project)
            if any(p.get("healthCheck") == health_check["selfLink"] for p in g.get("autoHealingPolicies") or [])]


def autohealed_groups(store):
    """Every group (all projects) with an autohealing policy, as live records."""
    return [g for g in groups(store) if g.get("autoHealingPolicies")]


def members(store, igm):
    """The group's members, ``{name: {"zone", "template", ...}}``: the live private record."""
    return store.priv(util.strip_url(igm["selfLink"])).setdefault("members", {})


def member_instances(store, igm):
    """[(member name, its instance record or None)], by name."""
    project = util.strip_url(igm["selfLink"]).split("/")[1]
    return [(name, store.get(instance_path(project, m["zone"], name)))
            for name, m in sorted(members(store, igm).items())]
