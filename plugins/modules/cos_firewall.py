#!/usr/bin/python
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cos_firewall
short_description: Manage a VPC firewall rule, for example to open a container's ports
version_added: 0.1.0
description:
  - Creates, updates or deletes one VPC firewall rule that allows (or denies) protocols and ports from source
    ranges or tags to instances with target network tags.
  - The rule is made exactly as the options describe it. Options left out take the same defaults as
    C(gcloud compute firewall-rules create), so leaving out an option on an existing rule resets that field
    (for example, no O(target_tags) means the rule applies to every instance of the network).
  - Port lists, ranges and tags are compared sorted and de-duplicated, so a re-run with the same rule in
    another order reports no change and sends only a read.
  - An existing rule is changed with C(firewalls.patch); when a field must be cleared (which a patch cannot
    express) or allow turns into deny, with C(firewalls.update). The O(network) and O(direction) of a rule
    cannot change; a difference fails the task.
options:
  name:
    description:
      - The name of the rule, RFC1035 style (lowercase letters, digits and hyphens, starting with a letter).
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the rule, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  network:
    description:
      - The VPC network of the rule, by name, as C(projects/P/global/networks/NAME), or as a URL.
    type: str
    default: default
  direction:
    description:
      - V(INGRESS) rules match traffic to the instances, V(EGRESS) rules traffic from them.
    type: str
    choices: [INGRESS, EGRESS]
    default: INGRESS
  ports:
    description:
      - The simple form of O(allowed), one entry per port, range or protocol.
      - V(80/tcp), V(53/udp) and V(8000-8100/tcp) (as in C(docker run -p)); V(tcp:80) and V(udp:53) (as in
        C(gcloud --allow)); a bare port or range such as V(8080) means TCP; a protocol alone, such as V(icmp) or
        V(tcp), means all its ports; V(all) means every protocol.
      - Exactly one of O(ports), O(allowed) and O(denied) is required with O(state=present).
    type: list
    elements: str
  allowed:
    description:
      - The protocols and ports the rule allows, in the API's form.
    type: list
    elements: dict
    suboptions:
      protocol:
        description:
          - V(tcp), V(udp), V(icmp), V(esp), V(ah), V(ipip), V(sctp), V(all), or an IP protocol number.
        type: str
        required: true
      ports:
        description:
          - Ports or ranges (V(80), V(8000-8100)), for V(tcp), V(udp) and V(sctp) only. All ports when not set.
        type: list
        elements: str
  denied:
    description:
      - The protocols and ports the rule denies; same form as O(allowed).
    type: list
    elements: dict
    suboptions:
      protocol:
        description:
          - As in O(allowed).
        type: str
        required: true
      ports:
        description:
          - As in O(allowed).
        type: list
        elements: str
  source_ranges:
    description:
      - IPv4 or IPv6 ranges (CIDR) the traffic comes from, for V(INGRESS) rules.
      - As with gcloud, an V(INGRESS) rule with neither O(source_ranges) nor O(source_tags) applies to
        V(0.0.0.0/0), that is, to traffic from anywhere.
    type: list
    elements: str
  source_tags:
    description:
      - Network tags of the instances the traffic comes from, for V(INGRESS) rules.
    type: list
    elements: str
  destination_ranges:
    description:
      - Ranges (CIDR) the traffic goes to. An V(EGRESS) rule without them applies to V(0.0.0.0/0).
    type: list
    elements: str
  target_tags:
    description:
      - Network tags of the instances the rule applies to. With none, it applies to every instance of the network.
    type: list
    elements: str
  priority:
    description:
      - Priority from 0 (highest) to 65535 (lowest).
    type: int
    default: 1000
  description:
    description:
      - A description of the rule. None when not set.
    type: str
  disabled:
    description:
      - Whether the rule is disabled (kept, but not enforced).
    type: bool
    default: false
  log:
    description:
      - Whether firewall rules logging is enabled for the rule.
    type: bool
    default: false
extends_documentation_fragment:
  - gce.cos.gcp
  - gce.cos.gcp.wait
attributes:
  check_mode:
    support: full
    description: Check mode reads the rule and reports the same plan (RV(actions) and the diff) as a real run.
  diff_mode:
    support: full
    description: The diff shows the rule before and after, as in RV(firewall).
notes:
  - Every value is checked before the first API call; bad names, ports, ranges and conflicting options fail the
    task with nothing created.
  - Compute Engine rules only let traffic reach an instance. Container-Optimized OS also drops inbound traffic
    in its host firewall; the C(gce.cos.cos_deploy) role opens the declared ports there too.
seealso:
  - name: VPC firewall rules
    description: How rules match traffic, and their defaults.
    link: https://cloud.google.com/firewall/docs/firewalls
author:
  - gce.cos maintainers (@gce-cos)
"""

EXAMPLES = r"""
- name: Open HTTP and HTTPS to the instances tagged web, from anywhere
  gce.cos.cos_firewall:
    name: allow-web
    ports: ["80/tcp", "443/tcp"]
    target_tags: [web]

- name: DNS and a port range from the office only, in the API's form
  gce.cos.cos_firewall:
    name: allow-office
    network: default
    allowed:
      - protocol: udp
        ports: ["53"]
      - protocol: tcp
        ports: ["53", "8000-8100"]
    source_ranges: [203.0.113.0/24]
    target_tags: [web]
    priority: 900
    description: Office access

- name: Remove a rule
  gce.cos.cos_firewall:
    name: allow-office
    state: absent
"""

RETURN = r"""
firewall:
  description:
    - The rule after the task, as plain data with sorted lists; empty when O(state=absent).
    - In check mode, the rule as the run would leave it.
  returned: always
  type: dict
  contains:
    name:
      description: The rule's name.
      type: str
      sample: allow-web
    network:
      description: The short name of the rule's network.
      type: str
      sample: default
    direction:
      description: V(INGRESS) or V(EGRESS).
      type: str
      sample: INGRESS
    priority:
      description: The rule's priority.
      type: int
      sample: 1000
    allowed:
      description: What the rule allows (C(IPProtocol), and C(ports) unless all ports); absent for a deny rule.
      type: list
      elements: dict
      sample: [{IPProtocol: tcp, ports: ["80", "443"]}]
    denied:
      description: What the rule denies; absent for an allow rule.
      type: list
      elements: dict
    sourceRanges:
      description: The source ranges.
      type: list
      elements: str
      sample: [0.0.0.0/0]
    sourceTags:
      description: The source tags.
      type: list
      elements: str
    destinationRanges:
      description: The destination ranges.
      type: list
      elements: str
    targetTags:
      description: The target tags.
      type: list
      elements: str
      sample: [web]
    description:
      description: The rule's description (empty when none).
      type: str
    disabled:
      description: Whether the rule is disabled.
      type: bool
    log:
      description: Whether logging is enabled.
      type: bool
    selfLink:
      description: The rule's URL.
      type: str
      sample: https://www.googleapis.com/compute/v1/projects/my-project/global/firewalls/allow-web
actions:
  description: The API calls the task made (or, in check mode, would make), in order, in words.
  returned: always
  type: list
  elements: str
  sample: ["create firewall rule 'allow-web' (allow tcp:80,443 from 0.0.0.0/0 to tags web)"]
"""

import ipaddress
import re

from ansible_collections.gce.cos.plugins.module_utils.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils.gcp_module import GcpModule
from ansible_collections.gce.cos.plugins.module_utils.gcp_names import (
    basename,
    name_error,
    qualify,
    relative,
    self_link,
)
from ansible_collections.gce.cos.plugins.module_utils.gcp_plan import Plan

PROTOCOLS = ("tcp", "udp", "icmp", "esp", "ah", "ipip", "sctp", "all")
PORTED_PROTOCOLS = ("tcp", "udp", "sctp")
_PORT_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
# Tags are RFC1035 names (the API's pattern for instance tags).
_OUTPUT_ONLY = ("kind", "id", "creationTimestamp", "selfLink")

RULE_SPEC = dict(
    protocol=dict(type="str", required=True),
    ports=dict(type="list", elements="str"),
)

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    network=dict(type="str", default="default"),
    direction=dict(type="str", default="INGRESS", choices=["INGRESS", "EGRESS"]),
    ports=dict(type="list", elements="str"),
    allowed=dict(type="list", elements="dict", options=RULE_SPEC),
    denied=dict(type="list", elements="dict", options=RULE_SPEC),
    source_ranges=dict(type="list", elements="str"),
    source_tags=dict(type="list", elements="str"),
    destination_ranges=dict(type="list", elements="str"),
    target_tags=dict(type="list", elements="str"),
    priority=dict(type="int", default=1000),
    description=dict(type="str"),
    disabled=dict(type="bool", default=False),
    log=dict(type="bool", default=False),
)


# -- ports ----------------------------------------------------------------------------------------
def parse_port_spec(spec):
    """'80/tcp', 'tcp:80', '8000-8100/tcp', '8080', 'icmp', 'all' -> (protocol, port or None)."""
    text = str(spec).strip().lower()
    if "/" in text:
        port, proto = text.split("/", 1)
    elif ":" in text:
        proto, port = text.split(":", 1)
    elif _PORT_RE.match(text):
        proto, port = "tcp", text
    else:
        proto, port = text, None
    return proto, (port or None)


def protocol_error(field, proto):
    if proto in PROTOCOLS:
        return None
    if proto.isdigit() and 0 <= int(proto) <= 255:
        return None
    return "%s: %r is not a protocol: use one of %s, or an IP protocol number 0-255" % (
        field,
        proto,
        ", ".join(PROTOCOLS),
    )


def port_error(field, port):
    match = _PORT_RE.match(port)
    if not match:
        return "%s: %r is not a port or port range: use N or N-M, e.g. 80 or 8000-8100" % (field, port)
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not (0 <= low <= 65535 and 0 <= high <= 65535):
        return "%s: %r is not a port: ports run from 0 to 65535" % (field, port)
    if low > high:
        return "%s: %r is an empty range: write the lower port first" % (field, port)
    return None


def _port_key(port):
    bounds = port.split("-", 1)
    return int(bounds[0]), int(bounds[-1])


def canonical_port(port):
    low, high = _port_key(port)
    return str(low) if low == high else "%d-%d" % (low, high)


def normalise_rules(entries):
    """[(protocol, [ports] or None)] -> the API's list, sorted: one entry per protocol, ports sorted, and a
    protocol with an all-ports entry has no port list."""
    by_proto = {}
    for proto, ports in entries:
        proto = str(proto).lower()
        if proto in by_proto and by_proto[proto] is None:
            continue
        if not ports:
            by_proto[proto] = None
            continue
        by_proto.setdefault(proto, set()).update(canonical_port(p) for p in ports)
    out = []
    for proto in sorted(by_proto):
        rule = {"IPProtocol": proto}
        if by_proto[proto]:
            rule["ports"] = sorted(by_proto[proto], key=_port_key)
        out.append(rule)
    return out


def api_rules(rules):
    """The API's allowed/denied list, normalised the same way as the options."""
    return normalise_rules((r.get("IPProtocol", ""), r.get("ports")) for r in rules or [])


def describe_rules(rules):
    parts = []
    for rule in rules:
        parts.append(rule["IPProtocol"] + (":" + ",".join(rule["ports"]) if rule.get("ports") else ""))
    return " ".join(parts)


def range_error(field, value):
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        return "%s: %r is not an IP range: %s; use CIDR such as 10.0.0.0/8 or 0.0.0.0/0" % (field, value, exc)
    return None


# -- desired state --------------------------------------------------------------------------------
def validate(params):
    """(errors, rules) from the options, without calling the API."""
    errors = [name_error("name", params["name"], "firewall rule name")]
    network = params["network"]
    if "/" not in network:
        errors.append(name_error("network", network, "network name"))
    if params["state"] == "absent":
        return [e for e in errors if e], None
    entries = []
    if params["ports"] is not None:
        if not params["ports"]:
            errors.append("ports: is empty: list at least one port, e.g. 80/tcp")
        for spec in params["ports"]:
            proto, port = parse_port_spec(spec)
            err = protocol_error("ports", proto)
            if err:
                errors.append("ports: %r: %s" % (spec, err.split(": ", 1)[1]))
                continue
            if port is not None:
                if proto not in PORTED_PROTOCOLS:
                    errors.append("ports: %r: only tcp, udp and sctp have ports" % spec)
                    continue
                err = port_error("ports", port)
                if err:
                    errors.append(err)
                    continue
            entries.append((proto, [port] if port else None))
    for field in ("allowed", "denied"):
        if params[field] is None:
            continue
        if not params[field]:
            errors.append("%s: is empty: list at least one protocol" % field)
        for i, rule in enumerate(params[field]):
            proto = str(rule["protocol"]).strip().lower()
            where = "%s[%d]" % (field, i)
            err = protocol_error(where + ".protocol", proto)
            if err:
                errors.append(err)
                continue
            ports = rule.get("ports") or None
            if ports and proto not in PORTED_PROTOCOLS:
                errors.append("%s.ports: only tcp, udp and sctp have ports, not %s" % (where, proto))
                continue
            bad = [port_error(where + ".ports", str(p)) for p in ports or []]
            bad = [b for b in bad if b]
            errors.extend(bad)
            if not bad:
                entries.append((proto, [str(p) for p in ports] if ports else None))
    for field in ("source_ranges", "destination_ranges"):
        for value in params[field] or []:
            errors.append(range_error(field, value))
    for field in ("source_tags", "target_tags"):
        for value in params[field] or []:
            errors.append(name_error(field, value, "network tag"))
    if params["direction"] == "EGRESS":
        extra = [f for f in ("source_ranges", "source_tags") if params[f]]
        if extra:
            errors.append(
                "%s: apply to INGRESS rules only; an EGRESS rule matches destination_ranges" % ", ".join(extra)
            )
    if not 0 <= params["priority"] <= 65535:
        errors.append("priority: %d is out of range: use 0 (highest) to 65535 (lowest)" % params["priority"])
    return [e for e in errors if e], normalise_rules(entries)


def desired_rule(params, project, rules):
    """The rule as the API holds it, with gcloud's defaults filled in."""
    kind = "denied" if params["denied"] is not None else "allowed"
    ingress = params["direction"] == "INGRESS"
    source_ranges = sorted(set(params["source_ranges"] or []))
    source_tags = sorted(set(params["source_tags"] or []))
    destination_ranges = sorted(set(params["destination_ranges"] or []))
    if ingress and not source_ranges and not source_tags:
        source_ranges = ["0.0.0.0/0"]  # what gcloud and the API do
    if not ingress and not destination_ranges:
        destination_ranges = ["0.0.0.0/0"]
    return {
        "name": params["name"],
        "network": qualify(params["network"], project, collection="global/networks"),
        "direction": params["direction"],
        "priority": params["priority"],
        kind: rules,
        "sourceRanges": source_ranges,
        "sourceTags": source_tags,
        "destinationRanges": destination_ranges,
        "targetTags": sorted(set(params["target_tags"] or [])),
        "description": params["description"] or "",
        "disabled": bool(params["disabled"]),
        "logConfig": {"enable": bool(params["log"])},
    }


def summary(rule):
    """A rule (API form or desired) as the module returns and diffs it."""
    if not rule:
        return {}
    out = {
        "name": rule["name"],
        "network": basename(rule.get("network")),
        "direction": rule.get("direction", "INGRESS"),
        "priority": int(rule.get("priority", 1000)),
    }
    if rule.get("denied"):
        out["denied"] = api_rules(rule["denied"])
    else:
        out["allowed"] = api_rules(rule.get("allowed"))
    for key in ("sourceRanges", "sourceTags", "destinationRanges", "targetTags"):
        out[key] = sorted(set(rule.get(key) or []))
    out["description"] = rule.get("description") or ""
    out["disabled"] = bool(rule.get("disabled", False))
    out["log"] = bool((rule.get("logConfig") or {}).get("enable", False))
    out["selfLink"] = rule.get("selfLink")
    return out


# Summary key -> API field, for the fields a patch can carry.
_FIELDS = {
    "priority": "priority",
    "allowed": "allowed",
    "denied": "denied",
    "sourceRanges": "sourceRanges",
    "sourceTags": "sourceTags",
    "destinationRanges": "destinationRanges",
    "targetTags": "targetTags",
    "description": "description",
    "disabled": "disabled",
    "log": "logConfig",
}


def _describe(rule):
    kind = "deny" if rule.get("denied") else "allow"
    text = "%s %s" % (kind, describe_rules(rule.get("denied") or rule.get("allowed") or []))
    if rule.get("sourceRanges") or rule.get("sourceTags"):
        text += " from %s" % ", ".join((rule.get("sourceRanges") or []) + (rule.get("sourceTags") or []))
    if rule.get("destinationRanges"):
        text += " to %s" % ", ".join(rule["destinationRanges"])
    if rule.get("targetTags"):
        text += " on tags %s" % ", ".join(rule["targetTags"])
    return text


def _body(rule):
    """An API body without empty values (the client drops them anyway)."""
    return {k: v for k, v in rule.items() if v not in ([], {}, None, "")}


def converge(gcp, rules):
    params = gcp.params
    name = params["name"]
    project = gcp.api.project
    what = "firewall rule %r" % name
    path = "projects/%s/global/firewalls/%s" % (project, name)
    actual = gcp.api.get("firewalls", "read", what, project=project, firewall=name)
    before = summary(actual)
    plan = Plan(before=before)

    if params["state"] == "absent":
        plan.after = {}
        if actual:
            plan.add("delete %s" % what, lambda: gcp.mutate("firewalls", "delete_unary", "delete", what, firewall=name))
        plan.execute(gcp.check_mode)
        gcp.exit(changed=plan.changed, actions=plan.descriptions, diff=plan.diff(), firewall={})
        return

    desired = desired_rule(params, project, rules)
    after = summary(dict(desired, selfLink=self_link(path)))
    plan.after = after
    if actual is None:
        body = _body(desired)
        plan.add(
            "create %s (%s)" % (what, _describe(after)),
            lambda: gcp.mutate("firewalls", "insert_unary", "create", what, firewall_resource=body),
        )
    else:
        fixed = []
        if relative(actual.get("network")) != desired["network"]:
            fixed.append("network is %s, not %s" % (basename(actual.get("network")), basename(desired["network"])))
        if actual.get("direction", "INGRESS") != desired["direction"]:
            fixed.append("direction is %s, not %s" % (actual.get("direction", "INGRESS"), desired["direction"]))
        if fixed:
            raise GcpError(
                "%s cannot be changed in place: %s; the module never recreates a rule: delete it first "
                "(state: absent) or use another name" % (what, "; ".join(fixed))
            )
        changed = [key for key in _FIELDS if before.get(key) != after.get(key)]
        if changed:
            plan_update(gcp, plan, what, name, actual, desired, before, after, changed)
    plan.execute(gcp.check_mode)
    final = after
    if plan.changed and not gcp.check_mode:
        final = summary(gcp.api.get("firewalls", "read", what, project=project, firewall=name))
    gcp.exit(changed=plan.changed, actions=plan.descriptions, diff=plan.diff(), firewall=final)


def plan_update(gcp, plan, what, name, actual, desired, before, after, changed):
    # A merge patch cannot clear a field (empty values are dropped from the body), nor turn an
    # allow rule into a deny rule (the old list would stay): those go through update (PUT).
    clears = [k for k in changed if after.get(k) in ([], "") and before.get(k) not in ([], "", None)]
    switch = ("allowed" in changed and "denied" in changed) or bool(actual.get("denied")) != bool(desired.get("denied"))
    words = ", ".join("%s %s -> %s" % (k, _short(before.get(k)), _short(after.get(k))) for k in changed)
    if clears or switch:
        body = {k: v for k, v in actual.items() if k not in _OUTPUT_ONLY and k not in ("allowed", "denied")}
        body.update(desired)
        body = _body(body)
        plan.add(
            "replace %s (%s)" % (what, words),
            lambda: gcp.mutate("firewalls", "update_unary", "update", what, firewall=name, firewall_resource=body),
        )
        return
    body = {"name": name}
    for key in changed:
        field = _FIELDS[key]
        body[field] = desired[field]
    plan.add(
        "patch %s (%s)" % (what, words),
        lambda: gcp.mutate("firewalls", "patch_unary", "patch", what, firewall=name, firewall_resource=body),
    )


def _short(value):
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return "[%s]" % describe_rules(value)
        return "[%s]" % ", ".join(str(v) for v in value)
    return repr(value)


def main():
    gcp = GcpModule(
        ARGUMENT_SPEC,
        mutually_exclusive=[("ports", "allowed", "denied")],
        required_if=[("state", "present", ("ports", "allowed", "denied"), True)],
    )
    errors, rules = validate(gcp.params)
    if errors:
        gcp.fail("; ".join(errors))
    gcp.run(lambda gcp: converge(gcp, rules))


if __name__ == "__main__":
    main()
