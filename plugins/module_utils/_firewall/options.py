# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_firewall's options: the argument spec, port and protocol parsing, and the validator.

Nothing here calls the API, so a role or filter can check a task's options with
``validate_firewall_params`` before anything exists. Ranges go through ``ipaddress``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import name_error
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_params import raise_input_errors

PROTOCOLS = ("tcp", "udp", "icmp", "esp", "ah", "ipip", "sctp", "all")
PORTED_PROTOCOLS = ("tcp", "udp", "sctp")
_PORT_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
# Tags are RFC1035 names (the API's pattern for instance tags).
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


def firewall_errors(params):
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


def validate_firewall_params(params):
    """Raise InvalidParams naming every bad option of cos_firewall's ``params`` (defaults applied)."""
    raise_input_errors(firewall_errors(params)[0])


def wanted_rules(params):
    """The allowed/denied list the options ask for, in the API's form (the params are valid)."""
    return firewall_errors(params)[1]


# AnsibleModule's keyword arguments that go with ARGUMENT_SPEC.
ARGUMENT_RULES = dict(
    mutually_exclusive=[("ports", "allowed", "denied")],
    required_if=[("state", "present", ("ports", "allowed", "denied"), True)],
)
