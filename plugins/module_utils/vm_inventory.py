# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VMs of a project with their containers, as inventory data.

Listing is one ``instances.aggregatedList`` request per page (every zone at once); each
instance becomes a plain record: its desired containers parsed from the metadata, its
konlet declaration parsed, its agent, and (optionally) the agent's reports read from guest
attributes with bounded concurrency. Records are JSON-serialisable, so they can be cached.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.gce.cos.plugins.module_utils import konlet
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import basename
from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config, container_unit, vm_contract
from ansible_collections.gce.cos.plugins.module_utils.guest_attributes import read_reports

HOSTNAME_SOURCES = ("name", "private_ip", "public_ip")
# The API's largest page; 500 VMs are one request.
PAGE_SIZE = 500
# Set on every VM a managed instance group creates: the group's URL.
CREATED_BY_KEY = "created-by"
# Values kept out of gce_metadata: parsed into their own variables, or too large to be useful.
PARSED_KEYS = (vm_contract.USER_DATA_KEY, vm_contract.KONLET_KEY)
# Fields of an agent report kept per container.
REPORT_FIELDS = ("state", "revision", "digest", "image", "restarts", "error", "time")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def safe_name(text):
    """A group-name part: characters other than letters, digits and _ become _."""
    return _UNSAFE.sub("_", str(text))


def combined_filter(filters):
    """The API filter for a list of expressions, each kept in its own parentheses (AND)."""
    parts = [f.strip() for f in filters or [] if f and f.strip()]
    if len(parts) == 1:
        return parts[0]
    return " ".join("(%s)" % p for p in parts)


def list_instances(api, project, filter_expr=None, zones=None):
    """Every instance of the project (in the given zones), one aggregatedList request per page."""
    resource = "instances of project %s" % project
    fields = {"project": project, "max_results": PAGE_SIZE}
    if filter_expr:
        fields["filter"] = filter_expr
    scopes = api.call("instances", "aggregated_list", doing="list " + resource, **fields)
    wanted = set(zones or [])
    out = []
    for scope, scoped in sorted(scopes.items()):
        zone = scope.rsplit("/", 1)[-1]
        if wanted and zone not in wanted:
            continue
        out.extend(scoped.get("instances") or [])
    return out


def konlet_templates(api, project):
    """The instance templates of the project that still carry gce-container-declaration.

    The org-policy constraint against the container startup agent blocks new VMs made from
    them. Global templates, one instanceTemplates.list request per page.
    """
    resource = "instance templates of project %s" % project
    out = []
    for tmpl in api.list("instance_templates", doing="list " + resource, project=project, max_results=PAGE_SIZE):
        metadata = metadata_of(tmpl.get("properties") or {})
        if vm_contract.KONLET_KEY not in metadata:
            continue
        entry = {"project": project, "name": tmpl.get("name"), "self_link": tmpl.get("selfLink"), "image": None}
        try:
            containers = konlet.parse(metadata[vm_contract.KONLET_KEY])["containers"]
            entry["image"] = containers[0]["image"] if len(containers) == 1 else None
        except konlet.KonletError as exc:
            entry["error"] = str(exc)
        out.append(entry)
    return out


def metadata_of(instance):
    return {i.get("key"): i.get("value") or "" for i in (instance.get("metadata") or {}).get("items") or []}


def _addresses(instance):
    private = public = None
    for nic in instance.get("networkInterfaces") or []:
        private = private or nic.get("networkIP")
        for ac in nic.get("accessConfigs") or []:
            public = public or ac.get("natIP")
    return private, public


def _image_repository(image):
    """The repository of an image reference, without tag or digest."""
    ref = str(image or "").split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref = ref[:colon]
    return ref


def _containers(metadata):
    out = {}
    for name, value in vm_contract.container_units(metadata).items():
        key = vm_contract.metadata_key(name)
        spec = container_unit.recorded_spec(value)
        entry = {"metadata_key": key, "revision": container_unit.revision(value), "spec": spec}
        if spec is None:
            entry["error"] = "%s has no cos-spec line: it was not written by gce.cos.cos_container" % key
        entry["image"] = (spec or {}).get("image")
        entry["repository"] = _image_repository(entry["image"]) if entry["image"] else None
        out[name] = entry
    return out


def _konlet(instance, declaration):
    """The parsed declaration, and the spec cos_container migrate: true would run, or why not.

    ``outcome`` is None when it converts, ``refused`` when konlet itself rejects the declaration,
    ``unsupported`` when konlet runs it but gce.cos cannot convert it yet (``error`` says the fix).
    """
    out = {"declaration": None, "spec": None, "notes": [], "error": None, "outcome": None}
    try:
        out["declaration"] = konlet.parse(declaration)
    except konlet.KonletError as exc:
        out["error"], out["outcome"] = str(exc), exc.kind
        return out
    attached = {d["deviceName"]: d.get("mode") or "READ_WRITE"
                for d in instance.get("disks") or [] if d.get("deviceName")}
    try:
        out["spec"], out["notes"] = konlet.convert(declaration, attached_disks=attached)
    except konlet.KonletError as exc:
        out["error"], out["outcome"] = str(exc), exc.kind
    containers = out["declaration"]["containers"]
    out["image"] = containers[0]["image"] if len(containers) == 1 else None
    out["repository"] = _image_repository(out["image"]) if out["image"] else None
    return out


def record(instance, project):
    """The inventory record of one instance (plain, JSON-serialisable data)."""
    metadata = metadata_of(instance)
    private, public = _addresses(instance)
    created_by = metadata.get(CREATED_BY_KEY)
    containers = _containers(metadata)
    has_agent = cloud_config.has_agent(metadata.get(vm_contract.USER_DATA_KEY, ""))
    rec = {
        "gce_name": instance.get("name"),
        "gce_project": project,
        "gce_zone": basename(instance.get("zone", "")),
        "gce_id": instance.get("id"),
        "gce_status": instance.get("status"),
        "gce_machine_type": basename(instance.get("machineType", "")),
        "gce_labels": dict(instance.get("labels") or {}),
        "gce_tags": list((instance.get("tags") or {}).get("items") or []),
        "gce_private_ip": private,
        "gce_public_ip": public,
        "gce_self_link": instance.get("selfLink"),
        "gce_created_by": created_by,
        "gce_instance_group": basename(created_by) if created_by else None,
        "gce_metadata": {k: v for k, v in metadata.items() if k not in PARSED_KEYS and not k.startswith(
            vm_contract.METADATA_PREFIX)},
        "cos_containers": containers,
        # The agent comes with the user-data gce.cos writes; containers in metadata imply it.
        "cos_agent": {"installed": has_agent} if (has_agent or containers) else None,
        "cos_konlet": None,
    }
    if vm_contract.KONLET_KEY in metadata:
        rec["cos_konlet"] = _konlet(instance, metadata[vm_contract.KONLET_KEY])
    return rec


def hostname(rec, order):
    """The first of ``order`` (name, private_ip, public_ip) this VM has, else None."""
    for source in order:
        value = rec.get("gce_" + source)
        if value:
            return value
    return None


def add_reports(rec, reports):
    """Merge the agent's reports (guest attributes) into a record."""
    agent = reports.get(vm_contract.AGENT_REPORT_KEY)
    info = rec["cos_agent"] or {"installed": False}
    info["reported"] = agent is not None
    if agent is not None:
        info.update(version=agent.get("version"), error=agent.get("error") or None, time=agent.get("time"),
                    applied=agent.get("applied"))
    rec["cos_agent"] = info
    for name, entry in rec["cos_containers"].items():
        report = reports.get(name)
        observed = {k: report.get(k) for k in REPORT_FIELDS} if report else None
        entry["observed"] = observed
        entry["in_sync"] = bool(observed) and observed.get("revision") == entry["revision"]
    # Reported but no longer desired: the agent is removing it (or has not caught up).
    rec["cos_agent"]["undesired"] = sorted(
        k for k in reports if k != vm_contract.AGENT_REPORT_KEY and k not in rec["cos_containers"])


def read_all_reports(api_for, records, concurrency):
    """Read the reports of every agent VM, at most ``concurrency`` requests at a time.

    ``api_for(project)`` gives a ComputeApi. Returns {index: error text} for VMs whose reports
    could not be read; the others get their reports merged.
    """
    from concurrent.futures import ThreadPoolExecutor

    todo = [(i, r) for i, r in enumerate(records) if r["cos_agent"] is not None and r["gce_status"] == "RUNNING"]
    failures = {}

    def one(item):
        index, rec = item
        try:
            return index, read_reports(api_for(rec["gce_project"]), rec["gce_zone"], rec["gce_name"]), None
        except GcpError as exc:
            return index, None, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for index, reports, error in pool.map(one, todo):
            if error is not None:
                failures[index] = error
                records[index]["cos_agent"]["error"] = "reports not read: %s" % error
            else:
                add_reports(records[index], reports)
    return failures


def groups(rec):
    """The groups a record belongs to (names safe for Ansible)."""
    out = ["zone_" + safe_name(rec["gce_zone"])]
    if rec["cos_agent"] is not None:
        out.append("cos_agent")
    if rec["cos_konlet"] is not None:
        out.append("konlet")
        if rec["cos_konlet"].get("repository"):
            out.append("image_" + safe_name(rec["cos_konlet"]["repository"]))
    if rec["cos_agent"] is None and rec["cos_konlet"] is None:
        out.append("unmanaged")
    for name, entry in rec["cos_containers"].items():
        out.append("container_" + safe_name(name))
        if entry.get("repository"):
            out.append("image_" + safe_name(entry["repository"]))
    for key, value in sorted(rec["gce_labels"].items()):
        out.append("label_%s_%s" % (safe_name(key), safe_name(value)))
    if rec["gce_instance_group"]:
        out.append("instance_group_" + safe_name(rec["gce_instance_group"]))
    out.append("status_" + safe_name(str(rec["gce_status"]).lower()))
    seen = set()
    return [g for g in out if not (g in seen or seen.add(g))]
