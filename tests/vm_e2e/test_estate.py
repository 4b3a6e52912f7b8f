"""An estate of three simulated VMs: playbooks/deploy.yml over an inventory (vars/estate: groups
blue and green, one VM each), one container changed for the blue group only, and a konlet VM
found by the gce.cos.cos_vms inventory and moved onto the agent by playbooks/migrate.yml."""

import json
import os
import re
import shutil
import subprocess

import pytest
from google.cloud import compute_v1

from conftest import DEFAULT_PROJECT, DEFAULT_ZONE, HERE, ROOT, VENV_BIN, Run, konlet_open_firewall, wait_for

BLUE, GREEN, KONLET = "est-blue-1", "est-green-1", "est-konlet-1"
KONLET_CONTAINER = "klt-hello-wxyz"


def declaration(image):
    return ("spec:\n  containers:\n  - name: hello\n    image: %s\n    stdin: false\n    tty: false\n"
            "  restartPolicy: Always\n" % image)


def ansible(e2e, tmp_path, tool, *args):
    """ansible-playbook or ansible-inventory from the repository root, with the session's settings."""
    results = tmp_path / "results.jsonl"
    if results.exists():
        results.unlink()
    cmd = [os.path.join(VENV_BIN, tool), *args]
    if tool == "ansible-playbook":
        cmd += ["-e", json.dumps(e2e.extra_vars)]
    proc = subprocess.run(cmd, cwd=ROOT, env=e2e.env(tmp_path), capture_output=True, text=True, timeout=1800)
    lines = results.read_text().splitlines() if results.exists() else []
    return Run(proc, [json.loads(line) for line in lines])


_RESULT_LINE = re.compile(r"^(?:ok|changed|fatal): \[([^\]]+)\](?:: FAILED!)? => (\{.*\})$")


def per_host(run, task):
    """{host: result} of a task, from the -v output (the default callback prints one JSON line each)."""
    out, current = {}, None
    for line in run.proc.stdout.splitlines():
        if line.startswith("TASK ["):
            current = line
            continue
        match = _RESULT_LINE.match(line)
        if match and current and task in current:
            out[match.group(1)] = json.loads(match.group(2))
    return out


def inventory(e2e, tmp_path, text="with_reports: true\n"):
    src = tmp_path / "estate.cos_vms.yml"
    src.write_text("plugin: gce.cos.cos_vms\n" + text)
    run = ansible(e2e, tmp_path, "ansible-inventory", "-i", str(src), "--list", "--export")
    assert run.rc == 0 and "Failed to parse" not in run.proc.stderr, run
    return json.loads(run.proc.stdout), src


def plain(value):
    if isinstance(value, dict):
        if list(value) == ["__ansible_unsafe"]:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def estate(e2e, tmp_path_factory):
    """The estate's inventory copied where the test may edit it, deployed once."""
    tmp = tmp_path_factory.mktemp("estate")
    shutil.copytree(os.path.join(HERE, "vars", "estate"), tmp / "inventory")
    run = ansible(e2e, tmp, "ansible-playbook", "playbooks/deploy.yml", "-i", str(tmp / "inventory" / "hosts.yml"),
                  "-f", "3", "-v")
    yield tmp, run
    for name in (BLUE, GREEN, KONLET):
        e2e.api("DELETE", "zones/%s/instances/%s" % (DEFAULT_ZONE, name))
    e2e.wait_idle()


def test_deploy_over_the_inventory(e2e, estate):
    _tmp, run = estate
    assert run.rc == 0, run
    results = per_host(run, "Read the cos agent's reports")
    assert sorted(results) == [BLUE, GREEN]
    for name in (BLUE, GREEN):
        (web,) = results[name]["agent"]["entries"]
        assert web["state"] == "running" and web["digest"] == e2e.digests["web:v1"], results[name]
        assert e2e.http_body(name, 80) == "web v1\n"
        labels = e2e.instance(name)["labels"]
        assert labels["colour"] == ("blue" if name == BLUE else "green")


def test_change_one_container_on_one_group(e2e, estate):
    tmp, _run = estate
    boot_ids = {name: e2e.vm(name).boot_id() for name in (BLUE, GREEN)}
    (tmp / "inventory" / "group_vars" / "blue.yml").write_text("---\nestate_web_version: v2\n")
    run = ansible(e2e, tmp, "ansible-playbook", "playbooks/deploy.yml", "-i", str(tmp / "inventory" / "hosts.yml"),
                  "-f", "3", "-v", "-e", "cos_deploy_serial=1")
    assert run.rc == 0, run
    results = per_host(run, "Ensure the containers run")
    assert results[BLUE]["changed"] is True and results[GREEN]["changed"] is False
    reports = per_host(run, "Read the cos agent's reports")
    assert reports[BLUE]["agent"]["entries"][0]["digest"] == e2e.digests["web:v2"]
    instances = per_host(run, "Ensure the instance")
    assert not instances[BLUE]["changed"] and not instances[GREEN]["changed"]
    assert e2e.http_body(BLUE, 80, expect="web v2\n") == "web v2\n"
    assert e2e.http_body(GREEN, 80) == "web v1\n"
    # The agent changed the container in place: neither VM restarted.
    assert {name: e2e.vm(name).boot_id() for name in (BLUE, GREEN)} == boot_ids


@pytest.fixture(scope="module")
def konlet_vm(e2e, estate):
    image = e2e.vms.registry.image("web", "v1")
    instances = e2e.srv.client(compute_v1.InstancesClient, token="vm-e2e-token")
    ops = e2e.srv.client(compute_v1.ZoneOperationsClient, token="vm-e2e-token")
    body = compute_v1.Instance(
        name=KONLET,
        machine_type="zones/%s/machineTypes/e2-small" % DEFAULT_ZONE,
        disks=[compute_v1.AttachedDisk(
            boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
                source_image="projects/cos-cloud/global/images/family/cos-stable"))],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
        metadata=compute_v1.Metadata(items=[
            compute_v1.Items(key="gce-container-declaration", value=declaration(image))]),
        labels={"container-vm": "cos-stable-117"},
    )
    op = instances.insert_unary(project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, instance_resource=body)
    for _ in range(60):  # each wait long-polls; bounded by count
        op = ops.wait(project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, operation=op.name)
        if op.status == compute_v1.Operation.Status.DONE:
            break
    assert op.status == compute_v1.Operation.Status.DONE and not op.error.errors, op
    e2e.wait_idle()
    vm = e2e.vm(KONLET)
    # The simulator has no konlet: start the container the way konlet did at boot.
    konlet_open_firewall(vm)
    vm.exec(["docker", "run", "-d", "--name", KONLET_CONTAINER, "--network", "host", "--restart", "always", image],
            check=True, timeout=300)
    assert e2e.http_body(KONLET, 80) == "web v1\n"
    return vm


def test_inventory_sees_the_estate(e2e, estate, konlet_vm, tmp_path):
    data, _src = inventory(e2e, tmp_path)
    # Other tests' VMs share the session's localgce: only the estate's are compared.
    groups = {g: sorted(h for h in v.get("hosts", []) if h.startswith("est-")) for g, v in data.items()
              if g != "_meta"}
    assert groups["cos_agent"] == [BLUE, GREEN]
    assert groups["konlet"] == [KONLET]
    hv = plain(data["_meta"]["hostvars"])
    for name, version in ((BLUE, "v2"), (GREEN, "v1")):
        web = hv[name]["cos_containers"]["web"]
        assert web["in_sync"] is True, web
        assert web["observed"]["state"] == "running"
        assert web["observed"]["digest"] == e2e.digests["web:" + version]
        assert hv[name]["cos_agent"]["reported"] and hv[name]["cos_agent"]["version"]
    assert hv[KONLET]["cos_konlet"]["spec"]["image"].endswith("/web:v1")


def test_migrate_the_konlet_vm(e2e, estate, konlet_vm, tmp_path):
    _data, src = inventory(e2e, tmp_path)
    check = ansible(e2e, tmp_path, "ansible-playbook", "playbooks/migrate.yml", "-i", str(src), "--check")
    assert check.rc == 0, check
    assert "gce-container-declaration" in {
        i["key"] for i in e2e.instance(KONLET)["metadata"]["items"]}
    assert "check mode, nothing was written: 1 konlet VM(s), 1 would migrate" in check.proc.stdout

    run = ansible(e2e, tmp_path, "ansible-playbook", "playbooks/migrate.yml", "-i", str(src))
    assert run.rc == 0, run
    lines = re.findall(r'"msg": "(.*)"', run.proc.stdout)
    (line,) = [m for m in lines if m.startswith(KONLET + ": ") and ": note: " not in m]
    assert re.match(r"est-konlet-1: migrated: container hello \(.*/web:v1\) at revision [0-9a-f]{16}, running, "
                    r"the VM was restarted once; host firewall: everything konlet opened: .*; disks mounted: none$",
                    line), line
    assert "1 konlet VM(s), 1 migrated" in lines
    wait_for(lambda: sorted(konlet_vm.exec(["docker", "ps", "--format", "{{.Names}}"]).stdout.split()) == ["hello"],
             "only the agent's container runs", tries=120)
    assert e2e.http_body(KONLET, 80) == "web v1\n"

    data, _src = inventory(e2e, tmp_path)
    assert "konlet" not in data or not data["konlet"].get("hosts")
    assert sorted(h for h in data["cos_agent"]["hosts"] if h.startswith("est-")) == sorted([BLUE, GREEN, KONLET])
    hello = plain(data["_meta"]["hostvars"])[KONLET]["cos_containers"]["hello"]
    assert hello["in_sync"] is True and hello["observed"]["digest"] == e2e.digests["web:v1"]
