"""playbooks/status.yml: one table of what runs where for a cos_vms inventory, one VM or one group,
against localgce - VM, zone, container, image and digest, desired and reported revision, state,
restarts and since when, and the konlet VMs still to migrate. It reads only, and costs the inventory's
list request plus one guest-attribute read per running agent VM (the request log counts them)."""

import os
import re
import sys

import pytest

from conftest import base_env, playbook

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "api"))
from estate import KONLET_REFUSED, Estate

PROJECT = "status-project"
ZONES = ("us-central1-a", "europe-west1-b")
N_AGENT = 8
WARNING_RE = re.compile(r"^\[(?:DEPRECATION )?WARNING\].*$", re.M)


@pytest.fixture(scope="module")
def estate(lgce):
    """N_AGENT agent VMs (one restarting, one behind, one removing a container, one stopped), two konlet
    VMs (one konlet itself refuses) and one unmanaged VM, in their own project."""
    est = Estate(lgce, project=PROJECT)
    units = {}
    for i in range(N_AGENT):
        units[i] = est.agent_vm("st-web-%d" % i, ZONES[i % 2], containers=("web",))
    est.report("st-web-1", ZONES[1], {"web": {
        "revision": units[1]["web"]["revision"], "state": "restarting", "image": "nginx:1.25", "digest": "",
        "error": "exit status 1", "restarts": 4, "time": "2026-12-05T10:00:00Z"}})
    est.report("st-web-2", ZONES[0], {
        "web": {"revision": "0123456789abcdef", "state": "running", "image": "nginx:1.24",
                "digest": "sha256:" + "b" * 64, "error": "", "restarts": 0, "time": "2026-12-04T09:00:00Z"},
        "old": {"revision": "1111111111111111", "state": "running", "image": "redis:7", "digest": "",
                "error": "", "restarts": 0, "time": "2026-12-01T00:00:00Z"}})
    est.instances.stop_unary(project=PROJECT, zone=ZONES[1], instance="st-web-7")
    est.konlet_vm("st-legacy", ZONES[0])
    est.konlet_vm("st-refused", ZONES[1], declaration=KONLET_REFUSED)
    est.unmanaged_vm("st-plain", ZONES[0])
    return units


def source(tmp_path, with_reports=True):
    path = tmp_path / "status.cos_vms.yml"
    path.write_text("plugin: gce.cos.cos_vms\nwith_reports: %s\nwith_templates: false\n" % str(with_reports).lower())
    return str(path)


def env(tmp_path, lgce):
    return dict(base_env(tmp_path, lgce), GCP_PROJECT=PROJECT, GCP_AUTH_KIND="accesstoken",
                GCP_ACCESS_TOKEN="status-token", ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true")


def table(out):
    """{(vm, container): {column: cell}} from the task's output (the default callback prints the list)."""
    lines = re.findall(r'^\s+"((?:VM|st-)[^"]*)",?$', out, re.M)
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    rows = {}
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=False)]
        row = dict(zip(names, cells, strict=False))
        rows[(row["VM"], row["CONTAINER"])] = row
    return rows


def test_the_whole_inventory_in_one_table_for_list_and_guest_attribute_reads(estate, lgce, tmp_path):
    lgce.clear_requests()
    run = playbook(env(tmp_path, lgce), "status", "-i", source(tmp_path))
    assert run.proc.returncode == 0, run
    assert WARNING_RE.findall(run.out) == [], run
    rows = table(run.out)
    web = estate[0]["web"]
    assert rows[("st-web-0", "web")] == {
        "VM": "st-web-0", "ZONE": ZONES[0], "CONTAINER": "web", "IMAGE": web["spec"]["image"],
        "DIGEST": "sha256:aaaaaaaaaaaa", "DESIRED": web["revision"], "REPORTED": web["revision"], "STATE": "running",
        "RESTARTS": "0", "SINCE": "2026-12-01T00:00:00Z", "NOTE": "-"}
    restarting = rows[("st-web-1", "web")]
    assert (restarting["STATE"], restarting["RESTARTS"], restarting["SINCE"]) == ("restarting", "4",
                                                                                  "2026-12-05T10:00:00Z")
    assert restarting["NOTE"] == "exit status 1"
    behind = rows[("st-web-2", "web")]
    assert behind["REPORTED"] == "0123456789abcdef" and behind["NOTE"] == "not at the desired revision"
    assert rows[("st-web-2", "old")]["NOTE"] == "no longer desired: being removed"
    stopped = rows[("st-web-7", "web")]
    assert stopped["NOTE"] == "VM TERMINATED" and stopped["STATE"] == "-"
    assert rows[("st-legacy", "legacy")]["NOTE"] == "konlet: to migrate"
    assert rows[("st-legacy", "legacy")]["IMAGE"] == "gcr.io/legacy-project/legacy-app:3"
    assert rows[("st-refused", "legacy")]["NOTE"].startswith("konlet: cannot migrate: ")
    assert rows[("st-plain", "-")]["NOTE"] == "unmanaged: no cos agent and no konlet declaration"
    assert len({vm for vm, _c in rows}) == N_AGENT + 3

    # Reads only: one aggregatedList, then one getGuestAttributes per running agent VM.
    reqs = [r for r in lgce.requests() if r["path"].startswith("/compute/")]
    assert {r["method"] for r in reqs} == {"GET"}
    lists = [r for r in reqs if r["path"].endswith("/aggregated/instances")]
    guest = [r for r in reqs if r["path"].endswith("/getGuestAttributes")]
    assert len(lists) == 1 and len(guest) == N_AGENT - 1 and len(reqs) == len(lists) + len(guest), reqs
    assert sorted(r["path"].split("/")[-2] for r in guest) == ["st-web-%d" % i for i in range(N_AGENT - 1)]


@pytest.mark.parametrize("limit, vms", [
    ("st-web-1", {"st-web-1"}),
    ("konlet", {"st-legacy", "st-refused"}),
    ("zone_europe_west1_b:&cos_agent", {"st-web-1", "st-web-3", "st-web-5", "st-web-7"}),
])
def test_limit_narrows_the_table_to_a_vm_or_a_group(limit, vms, estate, lgce, tmp_path):
    run = playbook(env(tmp_path, lgce), "status", "-i", source(tmp_path), "--limit", limit)
    assert run.proc.returncode == 0, run
    assert {vm for vm, _c in table(run.out)} == vms


def test_an_inventory_without_reports_is_refused_with_the_fix(estate, lgce, tmp_path):
    run = playbook(env(tmp_path, lgce), "status", "-i", source(tmp_path, with_reports=False), "--limit", "st-web-0")
    assert run.proc.returncode != 0
    assert "st-web-0: the inventory did not read the cos agents' reports; set with_reports: true" in run.out, run
