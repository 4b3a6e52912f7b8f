# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_container's options as a request: the containers to build and to remove, checked before any API call."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils import container_spec
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_metadata import value_error
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import name_error, zone_error
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit
from ansible_collections.gce.cos.plugins.module_utils.plain_data import without_none

# The single form's spec options (name is also the container to remove, so it stands apart).
SPEC_OPTIONS = tuple(f for f in container_spec.FIELDS if f != "name")


def single_spec(p):
    spec = {"name": p["name"]}
    for key in SPEC_OPTIONS:
        if p.get(key) is not None:
            spec[key] = without_none(p[key])
    return spec


def _spec_errors(exc):
    return [str(e) for e in exc.errors]


def validate(p):
    """Everything checkable without the API: returns (request, errors).

    request: {"builds": [container_unit.build results], "remove": [names], "single": bool}.
    """
    errors = []
    errors.append(name_error("instance", p["instance"], "instance name"))
    errors.append(zone_error("zone", p["zone"]))
    spec_given = sorted(k for k in SPEC_OPTIONS if p.get(k) is not None)
    builds, remove = [], []
    single = p["name"] is not None
    if p["migrate"]:
        if p["state"] != "present":
            errors.append("migrate: converts a declaration into a running container; it cannot go with state: absent")
        # ports narrows the host firewall konlet opened completely to the container's ports.
        others = [k for k in spec_given if k != "ports"]
        if p["containers"] is not None or others:
            errors.append(
                "migrate: the spec comes from gce-container-declaration; only name and ports may be given with it "
                "(got %s). Migrate first, then change the container in a later task"
                % ", ".join((["containers"] if p["containers"] is not None else []) + others)
            )
        if single:
            errors.append(name_error("name", p["name"], "container name"))
        if p.get("ports") is not None:
            try:
                container_spec.validate({"name": "migrated", "image": "konlet", "ports": p["ports"]}, path="")
            except container_spec.SpecError as exc:
                errors.extend(_spec_errors(exc))
        return {"builds": [], "remove": [], "single": single}, [e for e in errors if e]
    if not single and p["containers"] is None:
        errors.append("one of name or containers is required (or migrate: true)")
    if p["containers"] is not None and spec_given:
        errors.append(
            "%s: with containers, give the spec fields inside each entry of containers, not at the top level"
            % ", ".join(spec_given)
        )
    if p["state"] == "absent" and p["exclusive"]:
        errors.append("exclusive: only applies with state: present")
    if p["state"] == "absent":
        entries = [{"name": p["name"]}] if single else (p["containers"] or [])
        for i, entry in enumerate(entries):
            field = "name" if single else "containers[%d].name" % i
            cname = entry.get("name") if isinstance(entry, dict) else None
            err = name_error(field, cname, "container name")
            if err:
                errors.append(err)
            elif cname not in remove:
                remove.append(cname)
    else:
        specs = [(single_spec(p), "")] if single else list_specs(p["containers"])
        builds, build_errors = build_all(specs)
        errors.extend(build_errors)
        if p.get("apply") == "restart":
            errors.extend(restart_errors(specs, builds))
    return {"builds": builds, "remove": remove, "single": single}, [e for e in errors if e]


def restart_errors(specs, builds):
    """Start-first needs the cos agent: without it (apply: restart) nothing would forward the ports."""
    paths = {spec.get("name"): path for spec, path in specs if isinstance(spec, dict)}
    errors = []
    for built in builds:
        if container_unit.start_first(built["spec"]):
            path = paths.get(built["spec"]["name"]) or ""
            errors.append(
                '%sorder: "start-first" (the default with ports and a readiness probe) needs the cos agent, which '
                "starts the new revision beside the old one and forwards the ports to it; with apply: restart "
                "nothing would. Fix: use apply: agent, or set order: stop-first" % (path + "." if path else ""))
    return errors


def list_specs(entries, field="containers"):
    """[(spec, path)] of the entries of a list form option."""
    return [(without_none(entry), "%s[%d]" % (field, i)) for i, entry in enumerate(entries or [])]


def build_all(specs):
    """(container_unit.build results, errors) for [(spec, path)]: names unique, each unit within a metadata value."""
    builds, errors, seen = [], [], {}
    for spec, path in specs:
        try:
            built = container_unit.build(spec, path)
        except container_spec.SpecError as exc:
            errors.extend(_spec_errors(exc))
            continue
        cname = built["spec"]["name"]
        if cname in seen:
            errors.append("%s.name: %r is also the name of %s; names must be unique"
                          % (path, cname, seen[cname] or "name"))
            continue
        seen[cname] = path
        errors.append(value_error("%s (unit of container %s)" % (built["metadata_key"], cname), built["unit"]))
        builds.append(built)
    return builds, [e for e in errors if e]


def problems(errors):
    """One message for every problem found."""
    return "; ".join(errors) if len(errors) < 2 else "%d problems: %s" % (len(errors), "; ".join(errors))
