"""playbooks/migrate.yml over the gce.cos.cos_vms inventory, against localgce over HTTP (API only:
nothing waits for an agent): the plan in check mode writes nothing, each VM gets one line,
konlet's refusals, what gce.cos cannot convert yet and failures are told apart, the summary
counts them, and the run fails while a VM remains on konlet."""

import os
import re
import subprocess
import sys

import pytest
from estate import KONLET_REFUSED, KONLET_UNSUPPORTED, ROOT, Estate, ansible_env

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def migrate(env, src, *extra):
    cmd = [PLAYBOOK, "playbooks/migrate.yml", "-i", str(src), "-e", "cos_migrate_wait=false", *extra]
    run = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    lines = re.findall(r'"msg": "(.*)"', run.stdout)
    return run, lines


@pytest.fixture
def konlet_estate(localgce, tmp_path):
    estate = Estate(localgce)
    estate.konlet_vm("legacy-1", "us-central1-a")
    estate.konlet_vm("legacy-2", "us-central1-b")
    estate.konlet_vm("legacy-3", "us-central1-b", declaration=KONLET_REFUSED)
    estate.konlet_vm("legacy-4", "us-central1-a", declaration=KONLET_UNSUPPORTED)
    estate.agent_vm("web-1", "us-central1-a")
    src = tmp_path / "estate.cos_vms.yml"
    src.write_text("plugin: gce.cos.cos_vms\n")
    return src


FIREWALL = ("host firewall: everything konlet opened: ACCEPT for tcp, udp and icmp on INPUT and FORWARD, IPv4 and "
            "IPv6; disks mounted: none")


def test_check_mode_shows_the_plan_and_writes_nothing(localgce, tmp_path, konlet_estate):
    localgce.clear_requests()
    run, lines = migrate(ansible_env(localgce, tmp_path), konlet_estate, "--check", "-e", "cos_migrate_serial=2")
    # Check mode reports what would remain, and does not fail for it.
    assert run.returncode == 0, run.stdout[-3000:]
    assert localgce.requests(mutating_only=True) == []
    for vm in ("legacy-1", "legacy-2"):
        (line,) = [m for m in lines if m.startswith(vm + ": would")]
        assert line.startswith(vm + ": would migrate: container legacy (gcr.io/legacy-project/legacy-app:3) at ")
        assert "the VM restarts once; " + FIREWALL + "; plan: set metadata of instance '%s'" % vm in line
        assert "remove gce-container-declaration" in line and "stop instance '%s'" % vm in line
        assert vm + ": note: the host firewall is opened at every boot as konlet opened it" in " ".join(lines)
    assert ("legacy-3: refused: gce-container-declaration is refused by konlet itself: Invalid container "
            "declaration: Unsupported container restart policy 'UnlessStopped'") in lines
    (line,) = [m for m in lines if m.startswith("legacy-4: ")]
    assert line.startswith("legacy-4: unsupported: konlet runs this gce-container-declaration, but gce.cos cannot "
                           "convert it yet: converted spec.volumes[0].host_path")
    assert not any(m.startswith("web-1") for m in lines)
    assert "check mode, nothing was written: 4 konlet VM(s), 1 refused, 1 unsupported, 2 would migrate" in lines
    assert "check mode: 2 VM(s) would remain on konlet: legacy-3 (refused), legacy-4 (unsupported)" in lines, \
        run.stdout[-3000:]
    assert "no instance template carries gce-container-declaration" in lines


def test_migrates_in_batches_and_fails_while_vms_remain_on_konlet(localgce, tmp_path, konlet_estate):
    env = ansible_env(localgce, tmp_path)
    run, lines = migrate(env, konlet_estate, "-e", "cos_migrate_serial=2")
    assert run.returncode != 0, run.stdout[-3000:]
    assert run.stdout.count("PLAY [Move the konlet VMs onto the cos agent, in batches]") == 2
    outcomes = [m.split(":")[:2] for m in lines if ": note: " not in m][:4]
    # Batches in order (inventory order: by zone); within a batch Ansible prints the hosts as they finish.
    assert sorted(outcomes[:2]) == [["legacy-1", " migrated"], ["legacy-4", " unsupported"]]
    assert sorted(outcomes[2:]) == [["legacy-2", " migrated"], ["legacy-3", " refused"]]
    (line,) = [m for m in lines if m.startswith("legacy-1: migrated")]
    assert line.endswith(FIREWALL) and "the VM was restarted once" in line
    assert "4 konlet VM(s), 2 migrated, 1 refused, 1 unsupported" in lines
    assert "2 VM(s) remain on konlet: legacy-3 (refused), legacy-4 (unsupported); see the lines above for each " \
           "reason" in run.stdout
    for vm, zone in (("legacy-1", "us-central1-a"), ("legacy-2", "us-central1-b")):
        inst = localgce.get_resource("projects/test-project/zones/%s/instances/%s" % (zone, vm))
        keys = {i["key"] for i in inst["metadata"]["items"]}
        assert "cos-container-legacy" in keys and "gce-container-declaration" not in keys
    localgce.clear_requests()
    run, lines = migrate(env, konlet_estate)
    assert run.returncode != 0
    assert "2 konlet VM(s), 1 refused, 1 unsupported" in lines
    assert localgce.requests(mutating_only=True) == []


def test_a_failure_is_told_apart_stops_later_batches_and_fails_the_run(localgce, tmp_path, konlet_estate):
    localgce.fault("POST", r"/instances/legacy-1/setMetadata$", count=5, status=403, reason="forbidden",
                   message="Required 'compute.instances.setMetadata' permission")
    run, lines = migrate(ansible_env(localgce, tmp_path), konlet_estate, "-e", "cos_migrate_serial=1")
    assert run.returncode != 0
    (line,) = [m for m in lines if m.startswith("legacy-1: ")]
    assert line.startswith("legacy-1: failed: ") and "compute.instances.setMetadata" in line
    assert [m for m in lines if m.startswith(("legacy-2: ", "legacy-3: "))][:2] == [
        "legacy-2: skipped: 1 VM(s) failed in earlier batches (cos_migrate_max_failures is 0)",
        "legacy-3: skipped: 1 VM(s) failed in earlier batches (cos_migrate_max_failures is 0)"]
    assert "4 konlet VM(s), 1 failed, 3 skipped" in lines
    assert "4 VM(s) remain on konlet: " in run.stdout and "legacy-1 (failed)" in run.stdout


def test_static_inventory_refusal_comes_from_the_module(localgce, tmp_path):
    """Without the plugin's parsed declaration, konlet's refusal comes back from cos_container."""
    Estate(localgce).konlet_vm("legacy-3", "us-central1-b", declaration=KONLET_REFUSED)
    hosts = tmp_path / "hosts.yml"
    hosts.write_text("konlet:\n  hosts:\n    legacy-3:\n      gce_zone: us-central1-b\n")
    localgce.clear_requests()
    run, lines = migrate(ansible_env(localgce, tmp_path), hosts)
    assert run.returncode != 0, run.stdout[-3000:]
    assert "1 VM(s) remain on konlet: legacy-3 (refused)" in run.stdout
    (line,) = [m for m in lines if m.startswith("legacy-3: ")]
    assert line.startswith("legacy-3: refused: migrate: instance 'legacy-3' in us-central1-b cannot be moved off "
                           "konlet, because konlet itself would refuse its declaration")
    assert "instance templates were not listed: use the gce.cos.cos_vms inventory" in " ".join(lines)
    assert localgce.requests(mutating_only=True) == []


def test_cos_migrate_ports_narrows_the_firewall_and_the_line_says_so(localgce, tmp_path, konlet_estate):
    localgce.clear_requests()
    run, lines = migrate(ansible_env(localgce, tmp_path), konlet_estate, "--check", "-e",
                         '{"cos_migrate_ports": [8080]}')
    assert run.returncode == 0, run.stdout[-3000:]
    assert localgce.requests(mutating_only=True) == []
    (line,) = [m for m in lines if m.startswith("legacy-1: would migrate")]
    assert "; host firewall: only ports 8080/tcp, by the container's unit while it runs; disks mounted: none; " in line
    assert ("legacy-1: note: only ports 8080 are opened on the host firewall (by the container's unit, while it "
            "runs), not everything as konlet did; traffic to any other port is dropped") in lines
