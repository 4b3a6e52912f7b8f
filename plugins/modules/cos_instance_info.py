#!/usr/bin/python
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cos_instance_info
short_description: Read Compute Engine instances
version_added: 0.1.0
description:
  - Returns one Compute Engine instance by name, or every instance of a zone, as plain data.
  - Never changes anything.
options:
  zone:
    description:
      - The zone of the instances, for example C(us-central1-a).
    type: str
    required: true
  name:
    description:
      - The name of one instance. When not set, all instances of the zone are returned.
    type: str
  filter:
    description:
      - A Compute Engine list filter, for example C(labels.app=web). Ignored when O(name) is set.
    type: str
extends_documentation_fragment:
  - gce.cos.gcp
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
  diff_mode:
    support: none
    description: The module never changes anything.
author:
  - gce.cos maintainers (@gce-cos)
"""

EXAMPLES = r"""
- name: Read one instance
  gce.cos.cos_instance_info:
    project: my-project
    zone: us-central1-a
    name: web-1
  register: web

- name: List the instances labelled app=web
  gce.cos.cos_instance_info:
    zone: us-central1-a
    filter: labels.app=web
  register: webs
"""

RETURN = r"""
instances:
  description:
    - The instances found, in the Compute API's JSON form. Empty when O(name) names no instance.
    - Metadata values are not returned, only their keys, because they can hold configuration a play
      should not print.
  returned: always
  type: list
  elements: dict
  sample:
    - name: web-1
      status: RUNNING
      zone: us-central1-a
      machineType: e2-small
      metadataKeys: [user-data, google-logging-enabled]
"""

from ansible_collections.gce.cos.plugins.module_utils.gcp_module import GcpModule
from ansible_collections.gce.cos.plugins.module_utils.gcp_names import basename, name_error, zone_error


def summarize(instance):
    """The instance with its metadata values replaced by the list of keys."""
    result = dict(instance)
    metadata = result.pop("metadata", None) or {}
    result["metadataKeys"] = sorted(item["key"] for item in metadata.get("items", []))
    for key in ("zone", "machineType"):
        if key in result:
            result[key] = basename(result[key])
    return result


def main():
    gcp = GcpModule(
        dict(
            zone=dict(type="str", required=True),
            name=dict(type="str"),
            filter=dict(type="str"),
        ),
        wait=False,
    )
    params = gcp.params
    errors = [zone_error("zone", params["zone"])]
    if params["name"]:
        errors.append(name_error("name", params["name"]))
    errors = [e for e in errors if e]
    if errors:
        gcp.fail("; ".join(errors))

    def run(gcp):
        zone = params["zone"]
        if params["name"]:
            found = gcp.api.get(
                "instances", "read", "instance %r in %s" % (params["name"], zone),
                project=gcp.api.project, zone=zone, instance=params["name"],
            )
            instances = [found] if found else []
        else:
            instances = gcp.api.list(
                "instances", "list", "instances in %s" % zone,
                project=gcp.api.project, zone=zone, filter=params["filter"] or "",
            )
        gcp.exit(changed=False, instances=[summarize(i) for i in instances])

    gcp.run(run)


if __name__ == "__main__":
    main()
