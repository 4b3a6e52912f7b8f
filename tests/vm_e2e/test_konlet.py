"""konlet migration: a VM created the way `gcloud compute instances create-with-container` did
(gce-container-declaration, no user-data), moved to the cos agent by cos_container migrate."""

import pytest
from google.cloud import compute_v1

from conftest import DEFAULT_PROJECT, DEFAULT_ZONE, konlet_open_firewall, wait_for

NAME = "konlet-1"
KONLET_CONTAINER = "klt-hello-qzvb"


def declaration(image):
    # What gcloud writes; konlet runs it with the host network.
    return (
        "spec:\n"
        "  containers:\n"
        "  - name: hello\n"
        "    image: %s\n"
        "    env:\n"
        "    - name: GREETING\n"
        "      value: from-konlet\n"
        "    stdin: false\n"
        "    tty: false\n"
        "  restartPolicy: Always\n"
        "# This container declaration format is not public API and may change without notice. Please\n"
        "# use gcloud command-line tool or Google Cloud Console to run Containers on Google Compute Engine.\n"
    ) % image


@pytest.fixture(scope="module")
def konlet_vm(e2e):
    image = e2e.vms.registry.image("web", "v1")
    instances = e2e.srv.client(compute_v1.InstancesClient, token="vm-e2e-token")
    ops = e2e.srv.client(compute_v1.ZoneOperationsClient, token="vm-e2e-token")
    body = compute_v1.Instance(
        name=NAME,
        machine_type="zones/%s/machineTypes/e2-small" % DEFAULT_ZONE,
        disks=[compute_v1.AttachedDisk(
            boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
                source_image="projects/cos-cloud/global/images/family/cos-stable"))],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
        metadata=compute_v1.Metadata(items=[
            compute_v1.Items(key="gce-container-declaration", value=declaration(image)),
            compute_v1.Items(key="google-logging-enabled", value="true"),
        ]),
        labels={"container-vm": "cos-stable-117"},
    )
    op = instances.insert_unary(project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, instance_resource=body)
    for _ in range(60):  # each wait long-polls; bounded by count
        op = ops.wait(project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, operation=op.name)
        if op.status == compute_v1.Operation.Status.DONE:
            break
    assert op.status == compute_v1.Operation.Status.DONE and not op.error.errors, op
    e2e.wait_idle()
    vm = e2e.vm(NAME)
    # The simulator has no konlet: start its container the way konlet did at boot (host
    # network, restart policy Always -> docker's "always", json-file logs with its limits).
    konlet_open_firewall(vm)
    vm.exec(["docker", "run", "-d", "--name", KONLET_CONTAINER, "--network", "host", "--restart", "always",
             "--log-driver", "json-file", "--log-opt", "max-size=500m", "--log-opt", "max-file=3",
             "--env", "GREETING=from-konlet", image], check=True, timeout=300)
    assert e2e.http_body(NAME, 80) == "web v1\n"
    return vm


def inside(vm):
    """What a person would look at in the VM when the migration fails."""
    return vm.exec(["bash", "-c", "docker ps -a; journalctl -u cos-container-hello --no-pager | tail -15"]).stdout


def running_names(vm):
    return sorted(vm.exec(["docker", "ps", "--format", "{{.Names}}"], check=True).stdout.split())


def test_konlet_vm_migrates_to_the_agent(e2e, konlet_vm, tmp_path):
    vm = konlet_vm
    assert running_names(vm) == [KONLET_CONTAINER]
    boot_id = vm.boot_id()

    run = e2e.playbook(tmp_path, "tests/vm_e2e/playbooks/migrate.yml", instance=NAME)
    assert run.rc == 0, (run, inside(vm))
    result = run.task("Convert the declaration")
    assert result["changed"] and result["restarted"], result
    assert result["container"]["name"] == "hello" and result["container"]["state"] == "running", result
    assert result["container"]["digest"] == e2e.digests["web:v1"]

    md = {i["key"]: i["value"] for i in e2e.instance(NAME)["metadata"]["items"]}
    assert "gce-container-declaration" not in md and "cos-container-hello" in md
    # konlet's boot ended (stop + start); the agent, installed by the new user-data, runs it.
    assert vm.boot_id() != boot_id
    assert vm.exec(["systemctl", "is-active", "cos-agent.service", "cos-container-hello.service"]).stdout.split() == [
        "active", "active"]
    wait_for(lambda: running_names(vm) == ["hello"], "only the agent's container runs (docker ps: %s)"
             % running_names(vm), tries=120)
    env = vm.exec(["docker", "inspect", "--format", "{{json .Config.Env}}", "hello"], check=True).stdout
    assert "GREETING=from-konlet" in env
    assert e2e.http_body(NAME, 80) == "web v1\n"

    # Running it again changes nothing: there is no declaration left.
    again = e2e.playbook(tmp_path, "tests/vm_e2e/playbooks/migrate.yml", instance=NAME)
    assert again.rc == 0 and again.task("Convert the declaration")["changed"] is False, again
