"""One VM, offgcr-1 (vars/offline_gcr.yml), in a VPC without a route or DNS to gcr.io: COS never
reaches gcr-online.target there. Containers from other registries still start, cloud-init
finishes, registry logins work with COS's credential helpers on the PATH, dockerd runs with COS's
flags and the role's settings merged into daemon.json; a container from Artifact Registry
reports why it waits."""

import json

import pytest

from conftest import wait_for

NAME = "offgcr-1"


@pytest.fixture(scope="module")
def offline(e2e, tmp_path_factory):
    e2e.vms.backend.gcr_unreachable.add(NAME)
    run = e2e.deploy(tmp_path_factory.mktemp("deploy"), "offline_gcr.yml")
    assert run.rc == 0, run
    return run


def cloud_init_result(vm):
    proc = vm.exec(["cat", "/run/cloud-init/result.json"])
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def test_containers_from_other_registries_start_and_cloud_init_finishes(e2e, offline):
    vm = e2e.vm(NAME)
    # gcr.io does not resolve, so gcr-online.target is not reached...
    assert vm.exec(["getent", "hosts", "gcr.io"]).returncode != 0
    assert vm.exec(["systemctl", "is-active", "gcr-online.target"]).stdout.strip() != "active"
    # ...and still every container runs and cloud-init's last stage finished without error.
    containers = {c["name"]: c for c in offline.task("Read the cos agent's reports")["agent"]["entries"]}
    assert {n: c["state"] for n, c in containers.items()} == {"front": "running", "api": "running"}
    assert e2e.http_body(NAME, 80) == "web v1\n"
    wait_for(lambda: cloud_init_result(vm) is not None, "cloud-init result.json on %s" % NAME)
    assert cloud_init_result(vm)["v1"]["errors"] == []


def test_registry_login_works_with_credential_helpers_present(e2e, offline):
    vm = e2e.vm(NAME)
    # COS M125's docker-credential-helpers are on the PATH (they fail on a headless VM)...
    assert vm.exec(["sh", "-c", "command -v docker-credential-secretservice"]).returncode == 0
    helper = vm.exec(["docker-credential-secretservice", "list"], input="")
    assert helper.returncode != 0 and "Cannot autolaunch D-Bus" in helper.stdout
    # ...and the login stored its credentials in config.json itself, so the private pull worked.
    config = json.loads(vm.exec(["cat", "/var/lib/cos-agent/docker/config.json"], check=True).stdout)
    assert "credsStore" not in config
    assert config["auths"][e2e.vms.private_registry.address].get("auth")
    assert e2e.http_body(NAME, 8080) == "web v1\n"


def test_dockerd_runs_with_cos_flags_and_the_role_settings_merged(e2e, offline):
    vm = e2e.vm(NAME)
    pid = vm.exec(["systemctl", "show", "-p", "MainPID", "--value", "docker.service"], check=True).stdout.strip()
    argv = vm.exec(["cat", "/proc/%s/cmdline" % pid], check=True).stdout.split("\0")
    assert "--registry-mirror=https://mirror.gcr.io" in argv and "--host=fd://" in argv
    daemon = json.loads(vm.exec(["cat", "/etc/docker/daemon.json"], check=True).stdout)
    # The image's own setting stays; the role's are added.
    assert daemon == {"shutdown-timeout": 5, "live-restore": True, "log-driver": "json-file",
                      "log-opts": {"max-file": "3", "max-size": "100m"}}
    # Docker came back with them: the agent reports no error.
    answer = e2e.api("GET", "zones/us-central1-a/instances/%s/getGuestAttributes?queryPath=cos-agent/" % NAME)
    items = {i["key"]: json.loads(i["value"]) for i in answer["queryValue"]["items"]}
    assert items["agent"]["error"] == ""


def test_image_from_artifact_registry_reports_why_it_waits(e2e, offline, tmp_path):
    run = e2e.deploy(tmp_path, "offline_gcr.yml", e2e_with_google=True, e2e_wait_timeout=40)
    assert run.rc != 0, run
    msg = run.task("Stop when the agent does not run the containers")["msg"]
    assert "waiting for gcr-online.target: gcr.io does not resolve or answer from this VM" in msg, msg
    vm = e2e.vm(NAME)
    # The others keep running; the waiting one has only a queued start job.
    assert e2e.http_body(NAME, 80) == "web v1\n"
    job = vm.exec(["systemctl", "show", "-p", "Job", "--value", "cos-container-reports.service"]).stdout.strip()
    assert job, "no start job queued for the waiting container"
