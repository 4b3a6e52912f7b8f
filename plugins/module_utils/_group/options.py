# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_instance_group's options: the argument spec, the API's rules for sizes and policies, and the validator.

Nothing here calls the API or imports the client library, so a role or filter on the controller can
check a task's options with ``validate_group_params`` before anything exists.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.gce.cos.plugins.module_utils import container_spec
from ansible_collections.gce.cos.plugins.module_utils._container.request import build_all, list_specs
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import name_error, zone_error
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_params import raise_input_errors

UPDATE_TYPES = ["PROACTIVE", "OPPORTUNISTIC"]
ACTIONS = ["NONE", "REFRESH", "RESTART", "REPLACE"]
REPLACEMENT_METHODS = ["SUBSTITUTE", "RECREATE"]
# statefulPolicy.preservedState.disks[D].autoDelete, as the option spells it -> the API's enum.
AUTO_DELETE = {"never": "NEVER", "on-permanent-instance-deletion": "ON_PERMANENT_INSTANCE_DELETION"}
# The API takes a percent for maxSurge/maxUnavailable only in groups of at least this many VMs.
PERCENT_MIN_GROUP = 10
# A region's groups spread over three zones unless target_zones says otherwise.
DEFAULT_REGIONAL_ZONES = 3
MAX_VERSIONS = 2
REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_FIXED_OR_PERCENT_RE = re.compile(r"^\s*(\d+)\s*(%?)\s*$")

VERSION_SPEC = dict(
    instance_template=dict(type="str", required=True),
    name=dict(type="str"),
    target_size=dict(type="str"),
)

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    zone=dict(type="str"),
    region=dict(type="str"),
    target_zones=dict(type="list", elements="str"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    target_size=dict(type="int"),
    base_instance_name=dict(type="str"),
    instance_template=dict(type="str"),
    versions=dict(type="list", elements="dict", options=VERSION_SPEC),
    named_ports=dict(
        type="list",
        elements="dict",
        options=dict(name=dict(type="str", required=True), port=dict(type="int", required=True)),
    ),
    autohealing=dict(
        type="dict",
        options=dict(
            health_check=dict(type="str", required=True),
            initial_delay_sec=dict(type="int", default=300),
        ),
    ),
    update_policy=dict(
        type="dict",
        options=dict(
            type=dict(type="str", choices=UPDATE_TYPES),
            minimal_action=dict(type="str", choices=ACTIONS),
            most_disruptive_allowed_action=dict(type="str", choices=ACTIONS),
            max_surge=dict(type="str"),
            max_unavailable=dict(type="str"),
            replacement_method=dict(type="str", choices=REPLACEMENT_METHODS),
        ),
    ),
    stateful_disks=dict(
        type="list",
        elements="dict",
        options=dict(
            device_name=dict(type="str", required=True),
            auto_delete=dict(type="str", default="never", choices=sorted(AUTO_DELETE)),
        ),
    ),
    containers=dict(type="list", elements="dict", options=container_spec.argument_spec()),
    wait=dict(type="bool", default=True),
    wait_step=dict(type="int", default=0),
)

# AnsibleModule's keyword arguments that go with ARGUMENT_SPEC.
ARGUMENT_RULES = dict(
    mutually_exclusive=[("zone", "region"), ("instance_template", "versions")],
    required_one_of=[("zone", "region")],
    required_if=[("state", "present", ("instance_template", "versions"), True)],
)


def parse_fixed_or_percent(value):
    """'2' -> {"fixed": 2}, '20%' -> {"percent": 20}; None when it is neither."""
    match = _FIXED_OR_PERCENT_RE.match(str(value))
    if not match:
        return None
    number = int(match.group(1))
    return {"percent": number} if match.group(2) else {"fixed": number}


def fixed_or_percent_text(value):
    """The API's FixedOrPercent as the option writes it ('2', '20%'); None when unset."""
    if not value:
        return None
    if value.get("percent") is not None:
        return "%d%%" % int(value["percent"])
    return str(int(value.get("fixed") or 0))


def resolve(value, target_size, round_up=False):
    """The number of VMs a FixedOrPercent stands for in a group of ``target_size`` (the API rounds
    surge/unavailable down and a canary's size up)."""
    if value.get("percent") is not None:
        whole, rest = divmod(target_size * int(value["percent"]), 100)
        return whole + (1 if round_up and rest else 0)
    return int(value.get("fixed") or 0)


def zone_count(params):
    """How many zones the group runs in (the API's default for surge and unavailable)."""
    if params.get("zone"):
        return 1
    return len(params.get("target_zones") or []) or DEFAULT_REGIONAL_ZONES


def _policy_errors(params, errors):
    policy = params.get("update_policy") or {}
    size = params.get("target_size")
    zones = zone_count(params)
    parsed = {}
    for key in ("max_surge", "max_unavailable"):
        text = policy.get(key)
        if text is None:
            continue
        field = "update_policy.%s" % key
        value = parse_fixed_or_percent(text)
        if value is None:
            errors.append("%s: %r is not a number of VMs or a percent: write e.g. 1 or 20%%" % (field, text))
            continue
        if value.get("percent") is not None:
            if value["percent"] > 100:
                errors.append("%s: %r is more than 100%%: use 0%% to 100%%" % (field, text))
                continue
            if size is not None and size < PERCENT_MIN_GROUP:
                errors.append(
                    "%s: %r is a percent, which the API accepts only for groups of %d or more VMs (target_size is "
                    "%d): give a fixed number instead, e.g. %d" % (
                        field, text, PERCENT_MIN_GROUP, size, max(1, resolve(value, size)))
                )
                continue
        elif params.get("region") and 0 < value["fixed"] < zones:
            errors.append(
                "%s: %r is fewer than the %d zones of this regional group: a fixed value must be 0 or at least the "
                "number of zones" % (field, text, zones)
            )
            continue
        parsed[key] = value
    # The API's default surge: 0 for a stateful group (its VMs are recreated under their names).
    default_surge = 0 if params.get("stateful_disks") else zones
    surge = parsed.get("max_surge", {"fixed": default_surge} if policy.get("max_surge") is None else None)
    unavailable = parsed.get("max_unavailable", {"fixed": zones} if policy.get("max_unavailable") is None else None)
    reference = max(size or 0, 1)
    if surge is not None and unavailable is not None and (
            resolve(surge, reference) == 0 and resolve(unavailable, reference) == 0):
        errors.append(
            "update_policy: max_surge %s with max_unavailable %s lets no VM be updated: at least one of them "
            "must be above 0 (e.g. max_surge: 1, max_unavailable: 0 to add a VM before one is replaced)"
            % (fixed_or_percent_text(surge), fixed_or_percent_text(unavailable))
        )
    method = policy.get("replacement_method")
    if method == "RECREATE" and policy.get("max_surge") is not None and surge is not None and resolve(
            surge, max(size or 0, 1)) > 0:
        errors.append(
            "update_policy.max_surge: %r with replacement_method RECREATE: a VM recreated under its own name cannot "
            "be surged; set max_surge: 0" % policy["max_surge"]
        )
    if params.get("stateful_disks") and method == "SUBSTITUTE":
        errors.append(
            "update_policy.replacement_method: SUBSTITUTE with stateful_disks: a stateful group keeps its VMs' names "
            "and disks only with RECREATE; set replacement_method: RECREATE (and max_surge: 0)"
        )
    minimal, most = policy.get("minimal_action"), policy.get("most_disruptive_allowed_action")
    if minimal and most and ACTIONS.index(minimal) > ACTIONS.index(most):
        errors.append(
            "update_policy.minimal_action: %s is more disruptive than most_disruptive_allowed_action %s: lower "
            "minimal_action or raise most_disruptive_allowed_action" % (minimal, most)
        )


def _version_errors(params, errors):
    versions = params.get("versions")
    if versions is None:
        if params.get("instance_template") is not None and not params["instance_template"]:
            errors.append("instance_template: is empty: give the template's name or link")
        return
    if not versions or len(versions) > MAX_VERSIONS:
        errors.append(
            "versions: has %d entries: give one version, or two (the second is the canary with a target_size)"
            % len(versions)
        )
        return
    size = params.get("target_size")
    for i, version in enumerate(versions):
        field = "versions[%d]" % i
        if not version.get("instance_template"):
            errors.append("%s.instance_template: is empty: give the template's name or link" % field)
        if version.get("name") is not None:
            errors.append(name_error(field + ".name", version["name"], "version name"))
        text = version.get("target_size")
        if i == 0:
            if text is not None:
                errors.append(
                    "%s.target_size: %r: the first version takes the rest of the group; only the second (canary) "
                    "version has a target_size" % (field, text)
                )
            continue
        if text is None:
            errors.append("%s.target_size: is missing: a canary version needs its size, e.g. 1 or 20%%" % field)
            continue
        value = parse_fixed_or_percent(text)
        if value is None:
            errors.append("%s.target_size: %r is not a number of VMs or a percent: write e.g. 1 or 20%%"
                          % (field, text))
        elif value.get("percent") is not None and value["percent"] > 100:
            errors.append("%s.target_size: %r is more than 100%% of the group: use 0%% to 100%%" % (field, text))
        elif value.get("fixed") is not None and size is not None and value["fixed"] > size:
            errors.append(
                "%s.target_size: %r is larger than the group (target_size %d): the canary can have at most %d VMs"
                % (field, text, size, size)
            )
    if len(versions) == 2 and versions[0].get("instance_template") == versions[1].get("instance_template"):
        errors.append("versions: both versions use %r: a canary needs another template"
                      % versions[0]["instance_template"])


def group_errors(params):
    """Every problem of the options, each naming the field, the value and the fix (no API call)."""
    errors = [name_error("name", params["name"], "instance group name")]
    if params.get("zone") is not None:
        errors.append(zone_error("zone", params["zone"]))
        if params.get("target_zones"):
            errors.append(
                "target_zones: %r applies to regional groups only: give region instead of zone, or drop target_zones"
                % params["target_zones"]
            )
    if params.get("region") is not None:
        region = params["region"]
        if not REGION_RE.match(str(region)):
            errors.append("region: %r is not a region name: use the form us-central1" % region)
        for zone in params.get("target_zones") or []:
            err = zone_error("target_zones", zone)
            if err:
                errors.append(err)
            elif not zone.startswith(str(region) + "-"):
                errors.append("target_zones: %r is not a zone of region %s: use zones such as %s-a" % (
                    zone, region, region))
    if params["state"] == "absent":
        return [e for e in errors if e]
    step = params.get("wait_step") or 0
    if step < 0:
        errors.append("wait_step: %d is negative: use 0 (wait up to wait_timeout in one run) or a number of seconds"
                      % step)
    size = params.get("target_size")
    if size is not None and size < 0:
        errors.append("target_size: %d is negative: use 0 or more VMs" % size)
    if params.get("base_instance_name") is not None:
        errors.append(name_error("base_instance_name", params["base_instance_name"], "base instance name"))
    _version_errors(params, errors)
    seen = set()
    for i, port in enumerate(params.get("named_ports") or []):
        errors.append(name_error("named_ports[%d].name" % i, port["name"], "port name"))
        if not 1 <= port["port"] <= 65535:
            errors.append("named_ports[%d].port: %d is not a port: use 1 to 65535" % (i, port["port"]))
        if port["name"] in seen:
            errors.append("named_ports[%d].name: %r is given twice; names must be unique" % (i, port["name"]))
        seen.add(port["name"])
    healing = params.get("autohealing")
    if healing is not None:
        if not healing.get("health_check"):
            errors.append("autohealing.health_check: is empty: give the health check's name or link")
        if not 0 <= healing["initial_delay_sec"] <= 3600:
            errors.append("autohealing.initial_delay_sec: %d is out of range: use 0 to 3600 seconds"
                          % healing["initial_delay_sec"])
    _policy_errors(params, errors)
    devices = set()
    for i, disk in enumerate(params.get("stateful_disks") or []):
        field = "stateful_disks[%d].device_name" % i
        errors.append(name_error(field, disk["device_name"], "device name"))
        if disk["device_name"] in devices:
            errors.append("%s: %r is given twice" % (field, disk["device_name"]))
        devices.add(disk["device_name"])
    if params.get("containers") is not None:
        errors.extend(build_all(list_specs(params["containers"]))[1])
    return [e for e in errors if e]


def validate_group_params(params):
    """Raise InvalidParams naming every bad option of cos_instance_group's ``params`` (defaults applied)."""
    raise_input_errors(group_errors(params))
