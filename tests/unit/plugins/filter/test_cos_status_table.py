"""cos_status_table: the rows of each kind of VM, and aligned columns."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gce.cos.plugins.filter.cos_status_table import COLUMNS, FilterModule, cos_status_table


def test_rows_of_each_kind_of_vm():
    hostvars = {
        "a": {"gce_name": "a", "gce_zone": "z1", "gce_status": "RUNNING", "cos_konlet": None,
              "cos_agent": {"installed": True, "reported": True, "undesired": []}, "cos_containers": {}},
        "b": {"gce_name": "b", "gce_zone": "z2", "gce_status": "TERMINATED", "cos_konlet": None,
              "cos_agent": {"installed": True},
              "cos_containers": {"web": {"image": "nginx:1", "revision": "r1"}}},
        "c": {"gce_name": "c", "gce_zone": "z1", "gce_status": "RUNNING", "cos_agent": None, "cos_containers": {},
              "cos_konlet": {"declaration": None, "error": "restartPolicy UnlessStopped is not supported"}},
        "d": {"gce_name": "d", "gce_zone": "z1", "gce_status": "RUNNING", "cos_agent": {"installed": True,
              "reported": True, "undesired": []}, "cos_konlet": None,
              "cos_containers": {"web": {"image": "nginx:1", "revision": "r1"}}},
    }
    lines = cos_status_table(["a", "b", "c", "d"], hostvars)
    assert lines[0].split() == list(COLUMNS)
    notes = [line.split("  ")[-1].strip() for line in lines[1:]]
    assert notes == ["no containers", "VM TERMINATED",
                     "konlet: cannot migrate: restartPolicy UnlessStopped is not supported", "not reported yet"]
    # Every column starts at the same offset on every line.
    assert len({line.index("z") for line in lines[1:]}) == 1


def test_hosts_must_be_a_list_in_hostvars():
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        cos_status_table("a", {})
    with pytest.raises(AnsibleFilterError, match="x is not in hostvars"):
        cos_status_table(["x"], {})
    assert FilterModule().filters() == {"cos_status_table": cos_status_table}
