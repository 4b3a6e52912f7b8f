# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The thin base every module of the collection runs on.

It adds the shared connection and wait options to the module's own, builds the
credentials and the ComputeApi once, waits on operations with wait_timeout, and turns
every GcpError into a one-line fail_json, never a traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_auth import (
    build_credentials,
    connection_argument_spec,
    project_from_params,
    resolve_auth_kind,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError, GcpOperationError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_operations import mutate, wait_for_operation

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
        # Mutations the API accepted in this run: a failure after one still changed something.
        self.accepted = []

    @property
    def api(self):
        """The ComputeApi of this run, built on first use (credentials are checked then)."""
        if self._api is None:
            from ansible_collections.gce.cos.plugins.module_utils._api_helper.api_helper_client import helper_api

            # GCE_COS_API_HELPER on: the calls run in the play's helper process; else (or if it
            # cannot serve this run) in this process.
            self._api = helper_api(self.params, self._plain_api, warn=self.warnings.append) or self._plain_api()
        return self._api

    def _plain_api(self):
        from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi

        credentials, credentials_project = build_credentials(self.params)
        project = project_from_params(self.params, credentials_project)
        return ComputeApi(
            credentials,
            project,
            api_endpoint=self.params.get("api_endpoint"),
            auth_kind=resolve_auth_kind(self.params),
        )

    @property
    def project(self):
        return self.params.get("project") or self.api.project

    @property
    def wait_timeout(self):
        return self.params.get("wait_timeout") or DEFAULT_WAIT_TIMEOUT

    def mutate(self, service, method, /, *, doing, wait=True, **fields):
        """Run a mutating method and wait for it; ``doing`` (what it does) names it in errors and changes made."""
        fields.setdefault("project", self.api.project)
        op = mutate(self.api, service, method, self.wait_timeout, doing=doing, wait=False, **fields)
        self.accepted.append(doing)
        if not wait:
            return op
        try:
            return self.wait(op, doing)
        except GcpOperationError:
            # The operation ended in error: it did not take effect.
            self.accepted.remove(doing)
            raise

    def wait(self, op, doing):
        return wait_for_operation(self.api, op, doing, self.wait_timeout)

    def fail(self, msg, **result):
        if self.accepted:
            result.setdefault("changed", True)
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
            msg = str(exc)
            if self.accepted:
                msg += "; changed before this failure: %s (re-run the task to finish)" % "; ".join(self.accepted)
            self.fail(msg)
