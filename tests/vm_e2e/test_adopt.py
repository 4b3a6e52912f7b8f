"""Adopting a VM made without the cos agent (as gcloud or the Console make one): playbooks/deploy.yml refuses it
before any change unless asked to restart it, and with cos_deploy_restart_for_user_data the one restart boots the
agent, which runs the container; the role's wait sees it running."""

from google.cloud import compute_v1

from conftest import DEFAULT_PROJECT, DEFAULT_ZONE

NAME = "adopt-1"


def make_bare_vm(e2e):
    instances = e2e.srv.client(compute_v1.InstancesClient, token="vm-e2e-token")
    ops = e2e.srv.client(compute_v1.ZoneOperationsClient, token="vm-e2e-token")
    body = compute_v1.Instance(
        name=NAME,
        machine_type="zones/%s/machineTypes/e2-small" % DEFAULT_ZONE,
        disks=[compute_v1.AttachedDisk(
            boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
                source_image="projects/cos-cloud/global/images/family/cos-stable"))],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
        metadata=compute_v1.Metadata(items=[compute_v1.Items(key="google-logging-enabled", value="true")]),
    )
    op = instances.insert_unary(project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, instance_resource=body)
    for _ in range(60):  # each wait long-polls; bounded by count
        op = ops.wait(project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, operation=op.name)
        if op.status == compute_v1.Operation.Status.DONE:
            break
    assert op.status == compute_v1.Operation.Status.DONE and not op.error.errors, op
    e2e.wait_idle()


def keys(e2e):
    return {i["key"] for i in e2e.instance(NAME).get("metadata", {}).get("items", [])}


def test_a_vm_without_the_agent_is_adopted_with_one_restart(e2e, tmp_path):
    make_bare_vm(e2e)
    try:
        boot_id = e2e.vm(NAME).boot_id()
        assert e2e.vm(NAME).exec(["systemctl", "is-active", "cos-agent.service"]).stdout.strip() != "active"

        refused = e2e.deploy(tmp_path, "adopt.yml")
        assert refused.rc != 0, refused
        msg = refused.task("Say which variable of the role to set")["msg"]
        assert "runs without the cos agent" in msg and "set cos_deploy_restart_for_user_data: true" in msg, msg
        assert keys(e2e) == {"google-logging-enabled"}
        assert e2e.vm(NAME).boot_id() == boot_id

        run = e2e.deploy(tmp_path, "adopt.yml", cos_deploy_restart_for_user_data=True)
        assert run.rc == 0, run
        web = {c["name"]: c for c in run.task("Read the cos agent's reports")["agent"]["entries"]}["web"]
        assert web["state"] == "running" and web["digest"] == e2e.digests["web:v1"], web
        vm = e2e.vm(NAME)
        assert vm.boot_id() != boot_id  # the one restart
        assert vm.exec(["systemctl", "is-active", "cos-agent.service", "cos-container-web.service"]).stdout.split() \
            == ["active", "active"]
        assert e2e.http_body(NAME, 80) == "web v1\n"

        # Nothing left to do: no restart, no change.
        again = e2e.deploy(tmp_path, "adopt.yml", cos_deploy_restart_for_user_data=True)
        assert again.rc == 0, again
        assert again.task("Ensure the instance, with the user-data")["changed"] is False
        assert e2e.vm(NAME).boot_id() == vm.boot_id()
    finally:
        e2e.api("DELETE", "zones/%s/instances/%s" % (DEFAULT_ZONE, NAME))
        e2e.wait_idle()
