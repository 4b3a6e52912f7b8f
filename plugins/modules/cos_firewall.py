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
  - gce.cos.attributes
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

from ansible_collections.gce.cos.plugins.module_utils._api_helper.code_cache import use_code_cache

use_code_cache()  # before the module_utils below: on the helper path their compiled code is kept
from ansible_collections.gce.cos.plugins.module_utils._firewall.engine import converge
from ansible_collections.gce.cos.plugins.module_utils._firewall.options import ARGUMENT_RULES, ARGUMENT_SPEC
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import GcpModule


def main():
    GcpModule(ARGUMENT_SPEC, **ARGUMENT_RULES).run(converge)


if __name__ == "__main__":
    main()
