# -*- coding: utf-8 -*-
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cos_status_table
short_description: One table of what runs where, from the gce.cos.cos_vms inventory
version_added: 0.1.0
description:
  - Used by C(playbooks/status.yml). Reads, for each host, the variables the P(gce.cos.cos_vms#inventory)
    inventory sets (C(gce_name), C(gce_zone), C(gce_status), C(cos_containers), C(cos_agent), C(cos_konlet)) and
    makes one line per container - VM, zone, container, image and digest, the desired and the reported revision,
    the reported state, restarts and since when (the time of the agent's report), and a note (a konlet VM still
    to migrate, a VM without the cos agent, a stopped VM, a container being removed, an agent error).
  - The reported columns need the inventory's O(gce.cos.cos_vms#inventory:with_reports=true); without it they
    show C(-).
  - It reads variables only and makes no request.
positional: _input, hostvars
options:
  _input:
    description: The inventory names of the hosts to show, for example C(ansible_play_hosts).
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) of the play.
    type: dict
    required: true
author:
  - gce.cos contributors
"""

EXAMPLES = r"""
- name: Show what runs where
  ansible.builtin.debug:
    msg: "{{ ansible_play_hosts | gce.cos.cos_status_table(hostvars) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The header line, then one line per container (columns aligned with spaces), in host order.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.gce.cos.plugins.module_utils.plain_data import plain

COLUMNS = ("VM", "ZONE", "CONTAINER", "IMAGE", "DIGEST", "DESIRED", "REPORTED", "STATE", "RESTARTS", "SINCE", "NOTE")
# The variables of the cos_vms inventory the table reads.
VARIABLES = ("gce_name", "gce_zone", "gce_status", "cos_containers", "cos_agent", "cos_konlet")
NONE = "-"


def _short_digest(digest):
    """sha256:0123456789ab (the first 12 hex digits, as docker shows image IDs)."""
    if not digest:
        return NONE
    algo, _sep, hexpart = str(digest).partition(":")
    return "%s:%s" % (algo, hexpart[:12]) if hexpart else str(digest)[:19]


def _text(value):
    return NONE if value in (None, "") else str(value)


def host_rows(host, hv):
    """The rows (lists of cells) of one host, from its inventory variables."""
    name = hv.get("gce_name") or host
    zone = hv.get("gce_zone")
    status = hv.get("gce_status")
    agent = hv.get("cos_agent")
    konlet = hv.get("cos_konlet")
    containers = hv.get("cos_containers") or {}
    vm_notes = []
    if status and status != "RUNNING":
        vm_notes.append("VM %s" % status)
    if agent and agent.get("error"):
        vm_notes.append("agent: %s" % agent["error"])
    rows = []
    for cname in sorted(containers):
        entry = containers[cname] or {}
        observed = entry.get("observed") or {}
        notes = list(vm_notes)
        if entry.get("error"):
            notes.append(entry["error"])
        if observed.get("error"):
            notes.append(observed["error"])
        if observed and not entry.get("in_sync", True):
            notes.append("not at the desired revision")
        elif agent and agent.get("reported") is not None and status == "RUNNING" and not observed:
            notes.append("not reported yet")
        rows.append([name, zone, cname, entry.get("image"), _short_digest(observed.get("digest")),
                     entry.get("revision"), observed.get("revision"), observed.get("state"),
                     observed.get("restarts"), observed.get("time"), "; ".join(notes)])
    for cname in (agent or {}).get("undesired") or []:
        rows.append([name, zone, cname, None, NONE, None, None, None, None, None,
                     "; ".join([*vm_notes, "no longer desired: being removed"])])
    if konlet:
        declared = ((konlet.get("declaration") or {}).get("containers")) or [{}]
        note = "konlet: to migrate" if not konlet.get("error") else "konlet: cannot migrate: %s" % konlet["error"]
        for container in declared:
            rows.append([name, zone, container.get("name"), container.get("image"), NONE, None, None, None, None,
                         None, "; ".join([*vm_notes, note])])
    if not rows:
        note = "no containers" if agent else "unmanaged: no cos agent and no konlet declaration"
        rows.append([name, zone, None, None, NONE, None, None, None, None, None, "; ".join([*vm_notes, note])])
    return rows


def table(rows):
    """Aligned lines: the header, then the rows; the last column is not padded."""
    cells = [list(COLUMNS)] + [[_text(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS) - 1)]
    return [("  ".join(r[i].ljust(widths[i]) for i in range(len(COLUMNS) - 1)) + "  " + r[-1]).rstrip()
            for r in cells]


def cos_status_table(hosts, hostvars):
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("cos_status_table: expects a list of inventory host names, got %r" % (hosts,))
    rows = []
    for host in hosts:
        try:
            hv = hostvars[host]
        except KeyError:
            raise AnsibleFilterError("cos_status_table: %s is not in hostvars" % host)
        # Only the variables the table needs are read (and templated), as plain data.
        rows.extend(host_rows(host, dict((k, plain(hv[k])) for k in VARIABLES if k in hv)))
    return table(rows)


class FilterModule(object):
    def filters(self):
        return {"cos_status_table": cos_status_table}
