# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The planner of the cos_deploy_group role (behind the gce.cos.cos_deploy_group_plan filter, whose documentation
says what it checks and returns): the group's machine is checked by the cos_deploy planner (``vm.plan``), then
each module task's options by its module, all before the role's first API call."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.gce.cos.plugins.module_utils._deploy import vm
from ansible_collections.gce.cos.plugins.module_utils._deploy.checks import given, module_errors, unknown_variables
from ansible_collections.gce.cos.plugins.module_utils._firewall import options as firewall_options
from ansible_collections.gce.cos.plugins.module_utils._group import options as group_options
from ansible_collections.gce.cos.plugins.module_utils._health_check import options as health_check_options
from ansible_collections.gce.cos.plugins.module_utils._template import options as template_options
from ansible_collections.gce.cos.plugins.module_utils._template.engine import version_re

PREFIX = "cos_deploy_group_"
# Stands for a version's name while validating: the real name exists once the template task ran.
PLACEHOLDER_HASH = "0" * template_options.HASH_LENGTH
DEPLOY_VARIABLE_RE = re.compile(r"^cos_deploy_")
# A cos_deploy variable anywhere in a warning, named as the group role's.
DEPLOY_MENTION_RE = re.compile(r"(?<![.\w])cos_deploy_(?!group_)")


def _given(args):
    return given(args, empty=({}, []))


def _deploy_inputs(inputs, zone):
    instance = dict(inputs.get("instance") or {}, name=inputs.get("name"), zone=zone)
    disks = [{"name": d.get("device_name"), "device_name": d.get("device_name"), "mount_path": d.get("mount_path"),
              "mount_options": d.get("mount_options")} for d in inputs.get("disks") or []]
    firewall = dict(inputs.get("firewall") or {})
    firewall.setdefault("name", "%s-ports" % inputs.get("name"))
    return {"instance": instance, "disks": disks, "containers": inputs.get("containers") or [],
            "registries": inputs.get("registries") or [], "firewall": firewall,
            "toolbox": inputs.get("toolbox") or {}, "docker_daemon": inputs.get("docker_daemon") or {},
            "metadata_options": {"startup_script": inputs.get("startup_script") or None}}


def _template_args(prefix, instance_args, inputs, keep, overrides):
    args = {k: v for k, v in instance_args.items() if k not in ("name", "zone", "disks")}
    over = dict(overrides or {})
    for key in ("machine_type", "image_family", "image_project"):
        if over.get(key):
            args[key] = over[key]
    disks = [_given({"device_name": d.get("device_name"), "size_gb": d.get("size_gb"), "type": d.get("type"),
                     "auto_delete": not d.get("stateful", False)}) for d in inputs.get("disks") or []]
    return _given(dict(args, name_prefix=prefix, keep=keep, disks=disks))


def _health_check_args(inputs, ports):
    raw = inputs.get("health_check") or {}
    if raw.get("enabled") is False:
        return None
    port = raw.get("port")
    if port is None and ports:
        port = int(ports[0].split("/")[0])
    return _given({"name": raw.get("name") or "%s-health" % inputs.get("name"), "type": raw.get("type"),
                   "port": port, "request_path": raw.get("request_path"), "host": raw.get("host"),
                   "response": raw.get("response"), "check_interval_sec": raw.get("check_interval_sec"),
                   "timeout_sec": raw.get("timeout_sec"), "healthy_threshold": raw.get("healthy_threshold"),
                   "unhealthy_threshold": raw.get("unhealthy_threshold"),
                   "description": "gce.cos: health of the VMs of group %s" % inputs.get("name")})


def _health_firewall_args(inputs, deploy, health_check):
    if health_check is None:
        return None
    return {"name": "%s-health" % inputs.get("name"), "network": deploy["firewall"]["network"],
            "ports": ["%d/tcp" % health_check["port"]] if health_check.get("port") else [],
            "source_ranges": health_check_options.PROBER_RANGES, "target_tags": [deploy["firewall"]["target_tag"]],
            "description": "gce.cos: Google's health checkers to the VMs of group %s" % inputs.get("name")}


def _group_args(inputs, health_check, versions):
    healing = None
    if health_check is not None and (inputs.get("autohealing") or {}).get("enabled", True) is not False:
        healing = {"health_check": health_check["name"],
                   "initial_delay_sec": (inputs.get("autohealing") or {}).get("initial_delay_sec", 300)}
    stateful = [{"device_name": d["device_name"], "auto_delete": "never"}
                for d in inputs.get("disks") or [] if d.get("stateful")]
    return _given({
        "name": inputs.get("name"), "zone": inputs.get("zone"), "region": inputs.get("region"),
        "target_zones": inputs.get("target_zones"), "target_size": inputs.get("size"),
        "base_instance_name": inputs.get("base_instance_name"), "versions": versions,
        "named_ports": inputs.get("named_ports"), "autohealing": healing,
        "update_policy": _given(dict(inputs.get("update_policy") or {})) or None,
        "stateful_disks": stateful, "containers": inputs.get("containers") or [],
    })


def _prefix_errors(main, canary, errors):
    if canary is None:
        return
    if canary == main:
        errors.append("%scanary.template_prefix: %r is the group's template prefix too: versions of one prefix "
                      "are one template's history, so the canary would replace the group's template. Fix: give the "
                      "canary its own prefix, e.g. %s-canary" % (PREFIX, canary, main))
        return
    for one, other, field in ((main, canary, "canary.template_prefix"), (canary, main, "template.prefix")):
        if version_re(one).match(other):
            errors.append("%s%s: %r looks like a version of the prefix %r (PREFIX-HASH), so keeping that prefix's "
                          "versions would count and delete it. Fix: use a prefix that does not end in '-' and %d hex "
                          "digits" % (PREFIX, field, other, one, template_options.HASH_LENGTH))


def _port_errors(health_check, ports, errors):
    if health_check is None:
        return
    port = health_check.get("port")
    served = sorted({int(p.split("/")[0]) for p in ports if p.endswith("/tcp")})
    if port is None:
        errors.append("%shealth_check.port: is not set and no container declares a tcp port. Fix: give the port "
                      "the health check probes, declare it in a container's ports, or set "
                      "%shealth_check.enabled: false" % (PREFIX, PREFIX))
    elif port not in served:
        errors.append("%shealth_check.port: %d is not a tcp port of any container in %scontainers (they serve %s), "
                      "so every VM would be unhealthy and autohealed forever. Fix: probe one of those ports, or add "
                      "%d to the ports of the container that serves it"
                      % (PREFIX, port, PREFIX, ", ".join(map(str, served)) or "none", port))


def plan(inputs):
    """The plan of the cos_deploy_group role for a mapping of its inputs (see the cos_deploy_group_plan filter)."""
    if not isinstance(inputs, dict):
        raise TypeError("expects a mapping of the role's inputs")
    errors = []
    unknown_variables(inputs.get("variables"), inputs.get("known_variables"), errors, PREFIX)
    target_zones = inputs.get("target_zones") or []
    # cos_instance's rules need a zone; a regional group's machine is the same in each of its zones.
    zone = inputs.get("zone") or (target_zones[0] if target_zones else "%s-a" % inputs.get("region"))
    deploy = vm.plan(_deploy_inputs(inputs, zone))
    errors.extend(DEPLOY_VARIABLE_RE.sub(PREFIX, e) for e in deploy["errors"])
    name = inputs.get("name")
    template = inputs.get("template") or {}
    prefix = template.get("prefix") or name
    keep = template.get("keep", template_options.DEFAULT_KEEP)
    canary = inputs.get("canary")
    canary_prefix = (canary.get("template_prefix") or "%s-canary" % name) if canary else None
    _prefix_errors(prefix, canary_prefix, errors)
    # The group's containers live in its all-instances configuration, not in the templates: a new image
    # then needs no new template and no new VM.
    args = {
        "template": _template_args(prefix, deploy["args"]["instance"], inputs, keep, None),
        "canary_template": (_template_args(canary_prefix, deploy["args"]["instance"], inputs, keep,
                                           canary.get("instance")) if canary else None),
    }
    # The containers' own ports (deploy["ports"] has the firewall's extra ports too), in port order.
    declared = {str(p) for c in inputs.get("containers") or [] if isinstance(c, dict) for p in c.get("ports") or []}
    container_ports = [p for p in deploy["ports"] if p in declared or p.partition("/")[0] in declared]
    args["health_check"] = _health_check_args(inputs, container_ports or deploy["ports"])
    args["firewall"] = deploy["args"]["firewall"]
    args["health_firewall"] = _health_firewall_args(inputs, deploy, args["health_check"])
    versions = [{"instance_template": "%s-%s" % (prefix, PLACEHOLDER_HASH)}]
    if canary:
        versions.append({"instance_template": "%s-%s" % (canary_prefix, PLACEHOLDER_HASH), "name": "canary",
                         "target_size": str(canary.get("target_size", "1"))})
    args["group"] = _group_args(inputs, args["health_check"], versions)
    for key in ("template", "canary_template"):
        if args[key] is not None:
            field = "canary." if key == "canary_template" else "template."
            where = (("name_prefix", PREFIX + field + ("template_prefix" if field == "canary." else "prefix")),
                     ("keep", PREFIX + "template.keep"), ("disks", PREFIX + "disks"),
                     ("machine_type", PREFIX + "instance.machine_type"), ("", PREFIX + "instance."))
            module_errors(template_options, template_options.validate_template_params, args[key], where, errors)
    if args["health_check"] is not None:
        module_errors(health_check_options, health_check_options.validate_health_check_params, args["health_check"],
                      (("", PREFIX + "health_check."),), errors)
        _port_errors(args["health_check"], deploy["ports"], errors)
    if args["health_firewall"] is not None and args["health_firewall"]["ports"]:
        module_errors(firewall_options, firewall_options.validate_firewall_params, args["health_firewall"],
                      (("", PREFIX + "firewall."),), errors)
    where = (("versions[1].target_size", PREFIX + "canary.target_size"), ("target_size", PREFIX + "size"),
             ("versions", PREFIX + "canary"),
             ("update_policy", PREFIX + "update_policy"), ("stateful_disks", PREFIX + "disks"),
             ("containers", PREFIX + "containers"), ("autohealing", PREFIX + "autohealing"), ("", PREFIX))
    module_errors(group_options, group_options.validate_group_params, args["group"], where, errors)
    step = inputs.get("wait_step")
    if isinstance(step, int) and step < 0:
        errors.append("%swait_step: %d is negative: use 0 (one silent wait) or a number of seconds per step"
                      % (PREFIX, step))
    # A container's error is reported by the deploy plan already, named by its variable.
    # The versions' names are placeholders here: an error about them is the prefix clash reported above.
    deploy_errors = [DEPLOY_VARIABLE_RE.sub(PREFIX, d) for d in deploy["errors"]]
    errors = list(dict.fromkeys(e for e in errors if "-" + PLACEHOLDER_HASH not in e and (
        not e.startswith(PREFIX + "containers[") or e in deploy_errors)))
    warnings = [DEPLOY_MENTION_RE.sub(PREFIX, w) for w in deploy["warnings"]]
    return {"errors": errors, "warnings": warnings, "deploy": deploy, "args": args}
