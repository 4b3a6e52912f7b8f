# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_instance_template's engine: build the properties, name the version by their hash, plan, run.

Templates cannot change, so each spec is its own template, ``PREFIX-<hash>``: the hash is the
first HASH_LENGTH hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces) of
the template's properties exactly as sent, which hold the resolved boot image, the machine, the
disks, the network, the labels, the service account and every metadata value (user-data and
the containers' units included). The same options give the same name on every run, so a re-run
finds its version with one list call and changes nothing. Older versions of the prefix beyond
``keep`` are deleted unless a managed instance group (zonal or regional) uses them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_metadata import items_of
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import basename, relative, self_link
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_plan import Plan
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_users import group_references, in_use_by
from ansible_collections.gce.cos.plugins.module_utils._instance.api import InstanceApi
from ansible_collections.gce.cos.plugins.module_utils._instance.body import instance_properties
from ansible_collections.gce.cos.plugins.module_utils._instance.options import IMAGE_LABEL
from ansible_collections.gce.cos.plugins.module_utils._instance.summary import metadata_view
from ansible_collections.gce.cos.plugins.module_utils._template.options import (
    HASH_LENGTH,
    agent_missing,
    container_builds,
    instance_params,
    validate_template_params,
)
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit, vm_contract


def canonical_json(properties):
    return json.dumps(properties, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def version_name(prefix, properties):
    """PREFIX-<the first HASH_LENGTH hex digits of the SHA-256 of the canonical properties>."""
    return "%s-%s" % (prefix, hashlib.sha256(canonical_json(properties).encode("utf-8")).hexdigest()[:HASH_LENGTH])


def version_re(prefix):
    return re.compile(r"^%s-[0-9a-f]{%d}$" % (re.escape(prefix), HASH_LENGTH))


def template_disk(disk):
    """A new disk per VM, as a template's attached disk."""
    return {
        "type": "PERSISTENT",
        "deviceName": disk["device_name"],
        "mode": disk["mode"],
        "autoDelete": disk["auto_delete"],
        "initializeParams": {"diskSizeGb": str(disk["size_gb"]), "diskType": disk["type"]},
    }


def template_properties(params, project, image_path, image_name, builds):
    """The template's properties in the API's JSON form: cos_instance's machine plus the containers' units."""
    props = instance_properties(instance_params(params), project, image_path, image_name, region=params["region"])
    props["disks"].extend(template_disk(d) for d in params["disks"] or [])
    if builds:
        metadata = {item["key"]: item["value"] for item in props["metadata"]["items"]}
        for built in builds:
            metadata[built["metadata_key"]] = built["unit"]
        metadata[vm_contract.GUEST_ATTRIBUTES_KEY] = "TRUE"  # the agent's reports need it
        props["metadata"] = {"items": items_of(metadata)}
    return props


def properties_summary(props):
    """A template's properties as the module shows them: names, not URLs; metadata values as digests."""
    if not props:
        return {}
    metadata = {i["key"]: i.get("value", "") for i in (props.get("metadata") or {}).get("items") or []}
    disks = props.get("disks") or []
    boot = next((d for d in disks if d.get("boot")), {})
    init = boot.get("initializeParams") or {}
    nic = (props.get("networkInterfaces") or [{}])[0]
    account = (props.get("serviceAccounts") or [{}])[0]
    containers = {}
    for key, unit in metadata.items():
        if key.startswith(vm_contract.METADATA_PREFIX):
            spec = container_unit.recorded_spec(unit) or {}
            containers[key[len(vm_contract.METADATA_PREFIX):]] = {
                "image": spec.get("image"),
                "revision": container_unit.revision(unit),
            }
    out = {
        "machine_type": basename(props.get("machineType")),
        "image": (props.get("labels") or {}).get(IMAGE_LABEL),
        "source_image": relative(init.get("sourceImage")),
        "boot_disk": {
            "size_gb": int(init.get("diskSizeGb") or 0),
            "type": basename(init.get("diskType")),
            "auto_delete": bool(boot.get("autoDelete")),
        },
        "disks": [
            {
                "device_name": d.get("deviceName"),
                "size_gb": int((d.get("initializeParams") or {}).get("diskSizeGb") or 0),
                "type": basename((d.get("initializeParams") or {}).get("diskType")),
                "mode": d.get("mode", "READ_WRITE"),
                "auto_delete": bool(d.get("autoDelete")),
            }
            for d in disks
            if not d.get("boot")
        ],
        "network": basename(nic.get("network")),
        "subnetwork": basename(nic.get("subnetwork")),
        "external_ip": "ephemeral" if nic.get("accessConfigs") else "none",
        "network_tags": sorted((props.get("tags") or {}).get("items") or []),
        "labels": dict(sorted((props.get("labels") or {}).items())),
        "service_account": {"email": account.get("email"), "scopes": sorted(account.get("scopes") or [])}
        if account
        else None,
        "shielded_vm": props.get("shieldedInstanceConfig") or {},
        "scheduling": props.get("scheduling") or {},
        "description": props.get("description"),
        "containers": containers,
    }
    out.update(metadata_view(metadata))
    return out


class TemplateApi:
    """The calls on the versions of one prefix: global templates, or those of a region."""

    def __init__(self, gcp, region):
        self.gcp = gcp
        self.region = region
        self.service = "region_instance_templates" if region else "instance_templates"
        self.scope = {"region": region} if region else {}
        self.where = " in %s" % region if region else ""

    @property
    def project(self):
        return self.gcp.api.project

    def what(self, name):
        return "instance template %r%s" % (name, self.where)

    def path(self, name):
        scope = "regions/" + self.region if self.region else "global"
        return "projects/%s/%s/instanceTemplates/%s" % (self.project, scope, name)

    def versions(self, prefix):
        """The templates named PREFIX-<hash>, newest first."""
        pattern = version_re(prefix)
        found = self.gcp.api.list(
            self.service, doing="list instance templates %s-*%s" % (prefix, self.where),
            project=self.project,
            filter="name eq %s" % pattern.pattern[1:-1],
            **self.scope
        )
        found = [t for t in found if pattern.match(t.get("name", ""))]
        return sorted(found, key=lambda t: (t.get("creationTimestamp") or "", t["name"]), reverse=True)

    def insert(self, body):
        what = self.what(body["name"])
        return self.gcp.mutate(
            self.service, "insert_unary", doing="create " + what, instance_template_resource=body, **self.scope
        )

    def delete(self, name):
        """Delete a version; returns the group that uses it when the API refuses (a group took it meanwhile)."""
        try:
            self.gcp.mutate(
                self.service, "delete_unary", doing="delete " + self.what(name), instance_template=name, **self.scope
            )
        except GcpError as exc:
            user = in_use_by(exc)
            if user is None:
                raise
            return user
        return None


def converge(gcp):
    """cos_instance_template's run: validate the options, then make the version and prune old ones."""
    p = gcp.params
    validate_template_params(p)
    Templates(gcp).run()


class Templates:
    def __init__(self, gcp):
        self.gcp = gcp
        self.p = gcp.params
        self.api = TemplateApi(gcp, self.p["region"])
        self.prefix = self.p["name_prefix"]
        self.deleted = []
        self.in_use = {}

    def run(self):
        p = self.p
        existing = self.api.versions(self.prefix)
        names = [t["name"] for t in existing]
        if p["state"] == "absent":
            plan = Plan(before={"versions": names})
            self.plan_prune(plan, existing, keep=[])
            return self.finish(plan, None, existing)
        if agent_missing(p):
            self.gcp.warnings.append(
                "containers are given, but user_data does not install the cos agent that runs them (%s): pass the "
                "cloud-init of the gce.cos.cos_deploy role, or of the gce.cos.cos_cloud_config filter, as user_data"
                % vm_contract.AGENT_PATH
            )
        image_path, image_name = InstanceApi(self.gcp, self.prefix, None).resolve_image(instance_params(p))
        props = template_properties(p, self.api.project, image_path, image_name, container_builds(p))
        name = version_name(self.prefix, props)
        by_name = {t["name"]: t for t in existing}
        current = by_name.get(name) or (existing[0] if existing else None)
        plan = Plan(before={
            "name": current["name"] if current else None,
            "versions": names,
            "properties": properties_summary(current["properties"]) if current else {},
        })
        plan.record({"name": name, "properties": properties_summary(props)})
        if name not in by_name:
            body = {"name": name, "properties": props}
            if p["description"]:
                body["description"] = p["description"]
            summary = plan.after["properties"]
            plan.add(
                "create %s (%s, image %s%s)" % (
                    self.api.what(name), summary["machine_type"], image_name,
                    ", containers %s" % ", ".join(sorted(summary["containers"])) if summary["containers"] else ""),
                lambda: self.api.insert(body),
                after={"versions": [name, *names]},
            )
        others = [t for t in existing if t["name"] != name]
        self.plan_prune(plan, others, keep=[t["name"] for t in others[: p["keep"] - 1]])
        return self.finish(plan, name, existing)

    def plan_prune(self, plan, versions, keep):
        """A delete step per version not in ``keep`` that no group uses; those in use are kept and named."""
        candidates = [t for t in versions if t["name"] not in keep]
        if not candidates:
            return
        users = group_references(self.gcp)["templates"]
        for tmpl in candidates:
            name = tmpl["name"]
            groups = users.get(relative(tmpl["selfLink"]))
            if groups:
                self.in_use[name] = groups
                continue
            why = "state: absent" if self.p["state"] == "absent" else "older than the %d kept" % self.p["keep"]
            plan.add(
                "delete %s (%s)" % (self.api.what(name), why),
                lambda name=name: self.delete(name),
                after={"versions": [v for v in plan.after["versions"] if v != name]},
            )
            self.deleted.append(name)

    def delete(self, name):
        group = self.api.delete(name)
        if group:  # a group took it between the look-up and the delete
            self.deleted.remove(name)
            self.in_use[name] = [group]

    def finish(self, plan, name, existing):
        plan.execute(self.gcp.check_mode)
        for version, groups in sorted(self.in_use.items()):
            self.gcp.warnings.append(
                "%s is kept: it is in use by %s" % (self.api.what(version), ", ".join(groups))
            )
        names = [t["name"] for t in existing]
        if name and name not in names:
            names.insert(0, name)
        kept = [n for n in names if n not in self.deleted]
        result = dict(
            changed=plan.changed,
            actions=plan.descriptions,
            diff=plan.diff(),
            versions={"kept": kept, "deleted": list(self.deleted), "in_use": dict(self.in_use)},
        )
        if name:
            result.update(
                name=name,
                self_link=self_link(self.api.path(name)),
                properties=plan.after["properties"],
            )
        self.gcp.exit(**result)
