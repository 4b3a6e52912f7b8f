# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Module options checked before any API call, by the module itself or by a caller on the controller.

Each write module keeps its argument spec and its validator (``validate_*_params(params)``) in
module_utils. The module calls the validator on AnsibleModule's params; a role or filter can do
the same for a task it is about to run: ``params_with_defaults`` gives the params dict
AnsibleModule would build (types converted, defaults applied, unknown or conflicting options
refused), and the validator raises the same error the module would fail with.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError


class InvalidParams(GcpError):
    """Bad options, found before any API call; ``errors`` lists each one (field, value, fix)."""

    def __init__(self, errors):
        self.errors = list(errors)
        GcpError.__init__(self, "; ".join(self.errors), reason="invalid", details={"errors": self.errors})


def raise_input_errors(errors):
    """Raise InvalidParams for the messages in ``errors`` (None entries mean no error)."""
    errors = [e for e in errors if e]
    if errors:
        raise InvalidParams(errors)


def params_with_defaults(argument_spec, values, **rules):
    """The params AnsibleModule would give a module of ``argument_spec`` for the task options ``values``.

    The shared connection and wait options are accepted as every module accepts them. ``rules``
    are AnsibleModule's keyword arguments (mutually_exclusive, required_if, required_by, ...).
    Raises InvalidParams with AnsibleModule's own messages when the options do not fit the spec.
    """
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_auth import connection_argument_spec
    from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import DEFAULT_WAIT_TIMEOUT

    spec = connection_argument_spec()
    spec["wait_timeout"] = dict(type="int", default=DEFAULT_WAIT_TIMEOUT)  # as GcpModule adds it
    spec.update(argument_spec)
    result = ArgumentSpecValidator(spec, **rules).validate(dict(values))
    if result.error_messages:
        raise InvalidParams(result.error_messages)
    return result.validated_parameters
