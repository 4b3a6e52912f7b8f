# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cos_vms
short_description: Compute Engine VMs with their containers (cos agent and konlet)
version_added: 0.1.0
description:
  - Lists the Compute Engine VMs of one or more projects, with the containers each one should run (parsed from the
    C(cos-container-*) metadata keys M(gce.cos.cos_container) writes), the konlet declaration of VMs still on the
    deprecated container startup agent (C(gce-container-declaration)), and optionally what the cos agent reports
    it runs (guest attributes).
  - Listing costs one C(instances.aggregatedList) request per page of 500 VMs, for all zones at once. With
    O(with_reports=true) each running VM with the cos agent costs one more request, made O(report_concurrency) at
    a time.
  - The inventory file name must end in C(cos_vms.yml) or C(cos_vms.yaml).
  - Authentication is the modules' own, including the environment variables AWX's Google Compute Engine
    credential injects (E(GCP_AUTH_KIND), E(GCP_SERVICE_ACCOUNT_FILE), E(GCE_CREDENTIALS_FILE_PATH),
    E(GCP_PROJECT), ...), so the file works as an AWX inventory source.
  - "Host variables: C(gce_name), C(gce_project), C(gce_zone), C(gce_status), C(gce_labels), C(gce_tags),
    C(gce_private_ip), C(gce_public_ip), C(gce_machine_type), C(gce_id), C(gce_self_link), C(gce_created_by) and
    C(gce_instance_group) (the managed instance group that created the VM), C(gce_metadata) (other metadata keys),
    C(cos_containers) (per container name - C(spec), C(revision), C(image), C(repository), C(metadata_key), and
    with reports C(observed) (C(state), C(revision), C(digest), C(image), C(restarts), C(error), C(time)) and
    C(in_sync)), C(cos_agent) (C(installed), and with reports C(reported), C(version), C(error), C(time),
    C(undesired)) and C(cos_konlet) (C(declaration), the C(spec) a migration would run, C(notes), or why it
    would not - C(outcome) V(refused) with konlet's own reason, or V(unsupported) when konlet runs the declaration
    but gce.cos cannot convert it yet, and C(error), the reason with its fix)."
  - "Groups: C(cos_agent), C(konlet), C(unmanaged), C(container_NAME), C(image_REPOSITORY), C(zone_ZONE),
    C(label_KEY_VALUE), C(instance_group_NAME) and C(status_STATUS); characters other than letters, digits and
    C(_) become C(_)."
author:
  - gce.cos maintainers (@gce-cos)
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: The name of this plugin; it must be C(gce.cos.cos_vms).
    type: str
    required: true
    choices: [gce.cos.cos_vms]
  projects:
    description:
      - The projects to list.
      - When empty, the project of the modules - E(GCP_PROJECT), E(GCE_PROJECT), E(GOOGLE_CLOUD_PROJECT),
        E(CLOUDSDK_CORE_PROJECT), then the project of the service account key.
    type: list
    elements: str
    default: []
  zones:
    description:
      - Keep only the VMs of these zones. Empty keeps every zone. The listing still costs one request per page,
        whatever the zones.
    type: list
    elements: str
    default: []
  filters:
    description:
      - Compute Engine list filter expressions, for example C(labels.env = prod) or C(status = RUNNING). All must
        hold. They are applied by the API, so only the matching VMs are transferred.
    type: list
    elements: str
    default: []
  hostnames:
    description:
      - How a VM is named in the inventory, in order of preference; the first one the VM has is used.
      - V(name) is the instance name, V(private_ip) the first network interface's address, V(public_ip) its first
        external address. A VM that has none of them is left out with a warning.
    type: list
    elements: str
    default: [name]
  with_reports:
    description:
      - Also read what the cos agent reports (guest attributes C(cos-agent/*)) for every running VM with the agent,
        one request per VM.
    type: bool
    default: false
  with_templates:
    description:
      - Also list the project's instance templates that still carry C(gce-container-declaration) (the
        org-policy constraint against the container startup agent blocks VMs made from them), as the variable
        C(cos_konlet_templates) of the group C(all) - a list of C(project), C(name), C(self_link) and C(image).
        One more request per project.
      - Only global instance templates are listed.
    type: bool
    default: true
  report_concurrency:
    description: How many guest-attribute requests run at the same time with O(with_reports=true).
    type: int
    default: 8
  auth_kind:
    description:
      - V(application), V(serviceaccount), V(machineaccount) or V(accesstoken), as for the modules.
      - Falls back to E(GCP_AUTH_KIND); without it the kind follows the credential option that is set.
    type: str
    choices: [application, serviceaccount, machineaccount, accesstoken]
  service_account_file:
    description:
      - Path to a service account JSON key. Falls back to E(GCP_SERVICE_ACCOUNT_FILE), then
        E(GCE_CREDENTIALS_FILE_PATH) and E(GOOGLE_APPLICATION_CREDENTIALS).
    type: path
  service_account_contents:
    description: The contents of a service account JSON key. Falls back to E(GCP_SERVICE_ACCOUNT_CONTENTS).
    type: str
  service_account_email:
    description: The VM service account for V(machineaccount). Falls back to E(GCE_EMAIL).
    type: str
  access_token:
    description: An OAuth2 access token for V(accesstoken). Falls back to E(GCP_ACCESS_TOKEN).
    type: str
  scopes:
    description: OAuth2 scopes. Falls back to E(GCP_SCOPES), then C(https://www.googleapis.com/auth/cloud-platform).
    type: list
    elements: str
  api_endpoint:
    description:
      - Base URL of the Compute Engine API, for example C(http://127.0.0.1:8080) for localgce. Falls back to
        E(GCE_COS_API_ENDPOINT).
    type: str
notes:
  - A source that fails (bad option, refused filter, no project, no credentials) is reported by
    C(ansible-inventory) as a warning that names the problem, and Ansible goes on with an empty inventory. Set
    C(inventory_any_unparsed_is_failed = true) in C(ansible.cfg) (AWX does the equivalent) to make it fail.
requirements:
  - google-cloud-compute >= 1.20.0
  - google-auth >= 2.20.0
"""

EXAMPLES = r"""
# estate.cos_vms.yml - every VM of two projects, named by instance name (private IP when names collide)
plugin: gce.cos.cos_vms
projects: [web-prod, web-staging]
filters:
  - status = RUNNING
with_reports: true
keyed_groups:
  # label keys with hyphens work: the label dict is indexed, not flattened
  - key: gce_labels['team-name'] | default('none')
    prefix: team
compose:
  ansible_host: gce_private_ip
groups:
  drifting: cos_containers.values() | selectattr('in_sync', 'defined') | rejectattr('in_sync') | list | length > 0

# us.cos_vms.yml - the VMs of the US zones, named by private IP, then by name
plugin: gce.cos.cos_vms
zones: [us-central1-a, us-central1-b, us-east1-b]
hostnames: [private_ip, name]
"""

import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display

display = Display()

# Options the plugin's machinery adds, besides DOCUMENTATION's.
_FRAMEWORK_OPTIONS = ("plugin",)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "gce.cos.cos_vms"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("cos_vms.yml", "cos_vms.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path)
        config = self._read_config_data(path)
        self._check_options(config)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        found = None
        if use_cache:
            try:
                found = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if found is None:
            found = self._fetch()
        if update_cache:
            self._cache[cache_key] = found
        self._populate(found["records"])
        if self.get_option("with_templates"):
            self.inventory.set_variable("all", "cos_konlet_templates", found["templates"])

    # -- options ------------------------------------------------------------------------------
    def _check_options(self, config):
        from ansible_collections.gce.cos.plugins.module_utils.vm_inventory import HOSTNAME_SOURCES

        known = set(self._options) | set(_FRAMEWORK_OPTIONS)
        unknown = sorted(k for k in config if k not in known)
        if unknown:
            raise AnsibleParserError(
                "gce.cos.cos_vms: unknown option(s) %s; the options are: %s"
                % (", ".join(unknown), ", ".join(sorted(known))))
        bad = [h for h in self.get_option("hostnames") if h not in HOSTNAME_SOURCES]
        if bad or not self.get_option("hostnames"):
            raise AnsibleParserError(
                "gce.cos.cos_vms: hostnames: %r is not a hostname source; use a list of %s"
                % (bad[0] if bad else [], ", ".join(HOSTNAME_SOURCES)))
        for key in ("filters", "projects", "zones"):
            for value in self.get_option(key):
                if not isinstance(value, str) or not value.strip():
                    raise AnsibleParserError("gce.cos.cos_vms: %s: %r is not a non-empty string" % (key, value))
        if self.get_option("report_concurrency") < 1:
            raise AnsibleParserError("gce.cos.cos_vms: report_concurrency: must be at least 1, got %r"
                                     % self.get_option("report_concurrency"))

    def _auth_params(self):
        """The connection options, with the modules' own environment fallbacks."""
        from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_auth import connection_argument_spec

        params = {}
        for name, spec in connection_argument_spec().items():
            value = self.get_option(name) if name in self._options else None
            if value in (None, "", []) and spec.get("fallback"):
                for env in spec["fallback"][1]:
                    if os.environ.get(env):
                        value = os.environ[env]
                        if spec.get("type") == "list":
                            value = [v.strip() for v in value.split(",") if v.strip()]
                        break
            params[name] = value
        return params

    # -- fetch --------------------------------------------------------------------------------
    def _fetch(self):
        """Every VM's record, reports merged when asked; errors become AnsibleParserError."""
        from ansible_collections.gce.cos.plugins.module_utils import vm_inventory
        from ansible_collections.gce.cos.plugins.module_utils._gcp import gcp_auth
        from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi
        from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError

        params = self._auth_params()
        try:
            credentials, key_project = gcp_auth.build_credentials(params)
            projects = list(self.get_option("projects")) or [gcp_auth.project_from_params(params, key_project)]
        except GcpError as exc:
            raise AnsibleParserError("gce.cos.cos_vms: %s" % exc)
        kind = gcp_auth.resolve_auth_kind(params)
        apis = {}

        def api_for(project):
            if project not in apis:
                apis[project] = ComputeApi(credentials, project, params.get("api_endpoint"), auth_kind=kind)
            return apis[project]

        filter_expr = vm_inventory.combined_filter(self.get_option("filters"))
        records = []
        for project in projects:
            try:
                instances = vm_inventory.list_instances(
                    api_for(project), project, filter_expr, self.get_option("zones"))
            except GcpError as exc:
                hint = ""
                if filter_expr and exc.status == 400:
                    hint = " (filters: %r; check the field names and the operators =, !=, :, eq, ne)" % filter_expr
                raise AnsibleParserError("gce.cos.cos_vms: %s%s" % (exc, hint))
            records.extend(vm_inventory.record(inst, project) for inst in instances)
        templates = []
        if self.get_option("with_templates"):
            for project in projects:
                try:
                    templates.extend(vm_inventory.konlet_templates(api_for(project), project))
                except GcpError as exc:
                    raise AnsibleParserError("gce.cos.cos_vms: %s (set with_templates: false to skip them)" % exc)
        if self.get_option("with_reports"):
            failures = vm_inventory.read_all_reports(api_for, records, self.get_option("report_concurrency"))
            for index, error in sorted(failures.items()):
                display.warning("gce.cos.cos_vms: %s/%s: %s" % (
                    records[index]["gce_zone"], records[index]["gce_name"], error))
        return {"records": records, "templates": templates}

    # -- populate -----------------------------------------------------------------------------
    def _populate(self, records):
        from ansible_collections.gce.cos.plugins.module_utils import vm_inventory

        order = self.get_option("hostnames")
        strict = self.get_option("strict")
        seen = {}
        for rec in records:
            host = vm_inventory.hostname(rec, order)
            where = "%s/%s/%s" % (rec["gce_project"], rec["gce_zone"], rec["gce_name"])
            if not host:
                display.warning("gce.cos.cos_vms: %s has none of the hostnames %s; left out"
                                % (where, ", ".join(order)))
                continue
            if host in seen:
                display.warning("gce.cos.cos_vms: %s and %s are both named %s; %s is left out (add private_ip to "
                                "hostnames, or narrow projects and zones)" % (seen[host], where, host, where))
                continue
            seen[host] = where
            self.inventory.add_host(host)
            for key, value in rec.items():
                self.inventory.set_variable(host, key, value)
            address = rec["gce_public_ip"] or rec["gce_private_ip"]
            if address:
                self.inventory.set_variable(host, "ansible_host", address)
            for group in vm_inventory.groups(rec):
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)
            variables = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(self.get_option("compose"), variables, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), variables, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, host, strict=strict)
