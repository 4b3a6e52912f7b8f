# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_instance_info: one instance by name, or the instances of a zone, in cos_instance's summary form."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import instance_phrase, name_error, zone_error
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_params import raise_input_errors
from ansible_collections.gce.cos.plugins.module_utils._instance.api import InstanceApi
from ansible_collections.gce.cos.plugins.module_utils._instance.summary import summarize
from ansible_collections.gce.cos.plugins.module_utils.guest_attributes import (
    compare,
    read_reports,
    wait_targets,
    with_reports,
)

ARGUMENT_SPEC = dict(
    zone=dict(type="str", required=True),
    name=dict(type="str"),
    filter=dict(type="str"),
    compare_containers=dict(type="list", elements="dict"),
)


def validate_instance_info_params(params):
    """Raise InvalidParams for a bad zone or instance name."""
    errors = [zone_error("zone", params["zone"])]
    if params["name"]:
        errors.append(name_error("name", params["name"]))
    if params["compare_containers"] is not None:
        if not params["name"]:
            errors.append("compare_containers: the agent's reports are read for one instance: set name")
        for i, entry in enumerate(params["compare_containers"]):
            if not isinstance(entry.get("name"), str) or not (entry.get("revision") or entry.get("action")):
                errors.append("compare_containers[%d]: %r is not an entry of cos_container's containers result "
                              "(name, and revision or action): pass that result's containers as they are"
                              % (i, entry))
    raise_input_errors(errors)


def read_instances(gcp):
    """The module's run: read, summarize, exit (never changes anything)."""
    params = gcp.params
    validate_instance_info_params(params)
    zone = params["zone"]
    if params["name"]:
        found = InstanceApi(gcp, params["name"], zone).read()
        instances = [found] if found else []
    else:
        instances = gcp.api.list(
            "instances", doing="list instances in %s" % zone,
            project=gcp.api.project, zone=zone, filter=params["filter"] or "",
        )
    result = dict(changed=False, instances=[summarize(i) for i in instances])
    if params["compare_containers"] is not None:
        what = instance_phrase(params["name"], zone)
        reports = read_reports(gcp.api, zone, params["name"]) if instances else {}
        result["agent"] = compare(reports, wait_targets(params["compare_containers"]), what)
        result["agent"]["entries"] = with_reports(params["compare_containers"], reports)
        if not instances:
            result["agent"]["message"] = "%s does not exist" % what
    gcp.exit(**result)
