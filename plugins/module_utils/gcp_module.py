# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The thin base every module of the collection runs on.

It adds the shared connection and wait options to the module's own, builds the
credentials and the ComputeApi once, waits on operations with wait_timeout, and turns
every GcpError into a one-line fail_json, never a traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.gce.cos.plugins.module_utils.gcp_auth import (
    build_credentials,
    connection_argument_spec,
    project_from_params,
    resolve_auth_kind,
)
from ansible_collections.gce.cos.plugins.module_utils.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils.gcp_operations import mutate, wait_for_operation

DEFAULT_WAIT_TIMEOUT = 300


class GcpModule:
    def __init__(self, argument_spec, wait=True, **kwargs):
        spec = connection_argument_spec()
        if wait:
            spec["wait_timeout"] = dict(type="int", default=DEFAULT_WAIT_TIMEOUT)
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self._api = None
        self.warnings = []

    @property
    def api(self):
        """The ComputeApi of this run, built on first use (credentials are checked then)."""
        if self._api is None:
            from ansible_collections.gce.cos.plugins.module_utils.gcp_client import ComputeApi

            credentials, credentials_project = build_credentials(self.params)
            project = project_from_params(self.params, credentials_project)
            self._api = ComputeApi(
                credentials,
                project,
                api_endpoint=self.params.get("api_endpoint"),
                auth_kind=resolve_auth_kind(self.params),
            )
        return self._api

    @property
    def project(self):
        return self.params.get("project") or self.api.project

    @property
    def wait_timeout(self):
        return self.params.get("wait_timeout") or DEFAULT_WAIT_TIMEOUT

    def mutate(self, service, method, action, resource, /, wait=True, **fields):
        # Positional-only: API methods have request fields named 'resource' (setLabels, setDeletionProtection).
        fields.setdefault("project", self.api.project)
        return mutate(self.api, service, method, action, resource, self.wait_timeout, wait=wait, **fields)

    def wait(self, op, action, resource):
        return wait_for_operation(self.api, op, action, resource, self.wait_timeout)

    def fail(self, msg, **result):
        self.module.fail_json(msg=msg, **result)

    def exit(self, **result):
        # module.warn: passing warnings= to exit_json is deprecated in ansible-core 2.19+.
        for warning in self.warnings:
            self.module.warn(warning)
        self.module.exit_json(**result)

    def run(self, main):
        """Call ``main(self)``; a GcpError anywhere becomes a clean one-line failure."""
        try:
            main(self)
        except GcpError as exc:
            self.fail(str(exc))
